package io.coracle.runtime.bench;

import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.ImageServiceGrpc;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListImagesRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.VersionRequest;
import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ImageBuilder;
import io.coracle.testing.LocalRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The read path alone, Coracle against containerd: P pods with one running container each, then each
 * status and list call in a tight loop, interleaved per call between the two daemons. Prints p50/p90 and
 * the ratio, and the daemon's RSS. With {@code -Dbench.hold=SECONDS} it keeps looping on Coracle for that
 * long after the table (for {@code jcmd PID JFR.start}). Run with the same class path as {@code bench compare}:
 * args {@code [CALLS] [PODS]}.
 */
public final class ReadPathBenchmark {
    public static void main(String[] args) throws Exception {
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 500;
        int pods = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        Path work = Files.createTempDirectory("coracle-bench-");
        int net = ThreadLocalRandom.current().nextInt(0x100, 0x1000);
        try (LocalRegistry registry = LocalRegistry.start()) {
            String reg = registry.host();
            String busybox = reg + "/bench/busybox:1";
            String pause = reg + "/bench/pause:1";
            ImageBuilder.busybox().push(registry, "bench/busybox", "1");
            Path pauseBinary = Path.of(System.getProperty("coracle.dist"), "libexec", "coracle-pause");
            new ImageBuilder().hostProgram(pauseBinary.toString(), "pause").entrypoint("/pause")
                    .push(registry, "bench/pause", "1");
            Path cdir = Files.createDirectories(work.resolve("containerd"));
            CompareBenchmark.writeNetwork(cdir.resolve("cni"), "bench-ctrd", "cbc" + Integer.toHexString(net),
                    cdir.resolve("ipam"), "10.%d.%d.0/24".formatted(230 + net % 8, net % 250));
            Path odir = Files.createTempDirectory("coracle-it-");
            CompareBenchmark.writeNetwork(odir.resolve("cni"), "bench-coracle", "cbo" + Integer.toHexString(net),
                    odir.resolve("ipam"), "10.%d.%d.0/24".formatted(238 + net % 8, net % 250));
            try (ContainerdProcess containerd = ContainerdProcess.start(cdir, reg, pause,
                    "/coracle-bench-ctrd-" + Integer.toHexString(net));
                 DaemonProcess coracle = DaemonProcess.launchWith(odir, """
                         [registry.mirrors."%1$s"]
                         endpoints = ["http://%1$s"]
                         """.formatted(reg), "--log-level", Boolean.getBoolean("bench.debug") ? "debug" : "info")) {
                coracle.awaitServing(Duration.ofSeconds(60));
                CompareBenchmark.Side o = new CompareBenchmark.Side("Coracle",
                        () -> RuntimeServiceGrpc.newBlockingStub(coracle.channel()).withDeadlineAfter(120, TimeUnit.SECONDS),
                        () -> ImageServiceGrpc.newBlockingStub(coracle.channel()).withDeadlineAfter(300, TimeUnit.SECONDS),
                        coracle.process().pid(), odir, "", Files.createDirectories(work.resolve("logs-coracle")),
                        new LinkedHashMap<>(), new LinkedHashMap<>(), new ArrayList<>());
                CompareBenchmark.Side c = new CompareBenchmark.Side("containerd", containerd::runtime,
                        containerd::images, containerd.process.pid(), cdir, containerd.cgroupParent,
                        Files.createDirectories(work.resolve("logs-containerd")), new LinkedHashMap<>(),
                        new LinkedHashMap<>(), new ArrayList<>());
                List<CompareBenchmark.Side> both = List.of(o, c);
                System.out.println("Coracle pid " + o.pid() + ", containerd pid " + c.pid());
                try {
                    run(both, calls, pods, busybox, coracle);
                    if (Boolean.getBoolean("bench.debug")) { // -Dbench.debug=true: Coracle's own timings of its steps
                        coracle.logText().lines().filter(l -> l.contains(" took ") || l.contains(", steps ")).forEach(System.out::println);
                    }
                } finally {
                    for (CompareBenchmark.Side s : both) {
                        CompareBenchmark.removeAll(s);
                    }
                }
            } finally {
                ContainerdProcess.unmountUnder(work);
                DaemonProcess.deleteTree(work);
                for (String br : List.of("cbc" + Integer.toHexString(net), "cbo" + Integer.toHexString(net))) {
                    new ProcessBuilder("ip", "link", "del", br).redirectErrorStream(true)
                            .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
                }
            }
        }
    }

    private static void run(List<CompareBenchmark.Side> both, int calls, int pods, String busybox, DaemonProcess coracle)
            throws Exception {
        List<List<String>> containers = new ArrayList<>();
        for (CompareBenchmark.Side s : both) {
            s.img().get().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(busybox)).build());
            containers.add(new ArrayList<>());
        }
        Map<String, List<Double>> afterStart = new LinkedHashMap<>();
        for (int i = 0; i < pods; i++) {
            for (int k = 0; k < 2; k++) {
                CompareBenchmark.Side s = both.get(k);
                PodSandboxConfig pod = CompareBenchmark.pod(s, "r" + i);
                String podId = s.rt().get().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build())
                        .getPodSandboxId();
                String id = s.rt().get().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                        .setConfig(CompareBenchmark.container(busybox)).setSandboxConfig(pod).build()).getContainerId();
                s.rt().get().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                s.pods().add(podId);
                containers.get(k).add(id);
                // Right after the start, as the cycle of bench compare calls them: first calls for this container.
                long t = System.nanoTime();
                s.rt().get().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build());
                long t1 = System.nanoTime();
                s.img().get().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(busybox)).build());
                long t2 = System.nanoTime();
                s.rt().get().version(VersionRequest.getDefaultInstance());
                long t3 = System.nanoTime();
                afterStart.computeIfAbsent(k + ":ContainerStatus", x -> new ArrayList<>()).add((t1 - t) / 1e6);
                afterStart.computeIfAbsent(k + ":ImageStatus", x -> new ArrayList<>()).add((t2 - t1) / 1e6);
                afterStart.computeIfAbsent(k + ":Version", x -> new ArrayList<>()).add((t3 - t2) / 1e6);
            }
        }
        Map<String, Consumer<Integer>> ops = new LinkedHashMap<>();
        for (int k = 0; k < 2; k++) {
            CompareBenchmark.Side s = both.get(k);
            List<String> ctrs = containers.get(k);
            String prefix = k + ":";
            ops.put(prefix + "Version", i -> s.rt().get().version(VersionRequest.getDefaultInstance()));
            ops.put(prefix + "ListPodSandbox", i -> s.rt().get().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
            ops.put(prefix + "ListContainers", i -> s.rt().get().listContainers(ListContainersRequest.getDefaultInstance()));
            ops.put(prefix + "PodSandboxStatus", i -> s.rt().get().podSandboxStatus(PodSandboxStatusRequest.newBuilder()
                    .setPodSandboxId(s.pods().get(i % pods)).build()));
            ops.put(prefix + "PodSandboxStatus (verbose)", i -> s.rt().get().podSandboxStatus(
                    PodSandboxStatusRequest.newBuilder().setPodSandboxId(s.pods().get(i % pods)).setVerbose(true).build()));
            ops.put(prefix + "ContainerStatus", i -> s.rt().get().containerStatus(ContainerStatusRequest.newBuilder()
                    .setContainerId(ctrs.get(i % pods)).build()));
            ops.put(prefix + "ContainerStatus (verbose)", i -> s.rt().get().containerStatus(
                    ContainerStatusRequest.newBuilder().setContainerId(ctrs.get(i % pods)).setVerbose(true).build()));
            ops.put(prefix + "ImageStatus", i -> s.img().get().imageStatus(ImageStatusRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(busybox)).build()));
            ops.put(prefix + "ListImages", i -> s.img().get().listImages(ListImagesRequest.getDefaultInstance()));
        }
        // The floor: a bare grpc-java server in this JVM (Netty epoll, unix socket, direct executor) answering Version.
        Path floorSocket = Files.createTempFile("coracle-floor-", ".sock");
        Files.delete(floorSocket);
        io.netty.channel.EventLoopGroup floorLoop = new io.netty.channel.MultiThreadIoEventLoopGroup(1,
                io.netty.channel.epoll.EpollIoHandler.newFactory());
        io.grpc.Server floor = io.grpc.netty.NettyServerBuilder.forAddress(
                        new io.netty.channel.unix.DomainSocketAddress(floorSocket.toString()))
                .channelType(io.netty.channel.epoll.EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(floorLoop).workerEventLoopGroup(floorLoop).directExecutor()
                .addService(new RuntimeServiceGrpc.RuntimeServiceImplBase() {
                    @Override
                    public void version(VersionRequest request,
                                        io.grpc.stub.StreamObserver<io.coracle.cri.v1.VersionResponse> out) {
                        out.onNext(io.coracle.cri.v1.VersionResponse.newBuilder().setVersion("0.1.0")
                                .setRuntimeName("floor").setRuntimeVersion("1").setRuntimeApiVersion("v1").build());
                        out.onCompleted();
                    }
                }).build().start();
        io.netty.channel.EventLoopGroup floorClientLoop = new io.netty.channel.MultiThreadIoEventLoopGroup(1,
                io.netty.channel.epoll.EpollIoHandler.newFactory());
        io.grpc.ManagedChannel floorChannel = io.grpc.netty.NettyChannelBuilder.forAddress(
                        new io.netty.channel.unix.DomainSocketAddress(floorSocket.toString()))
                .channelType(io.netty.channel.epoll.EpollDomainSocketChannel.class).eventLoopGroup(floorClientLoop)
                .usePlaintext().build();
        List<Double> floorTimes = new ArrayList<>();
        List<String> names = ops.keySet().stream().filter(n -> n.startsWith("0:")).map(n -> n.substring(2)).toList();
        Map<String, List<Double>> a = new LinkedHashMap<>();
        Map<String, List<Double>> b = new LinkedHashMap<>();
        for (String name : names) {
            a.put(name, new ArrayList<>());
            b.put(name, new ArrayList<>());
        }
        java.util.regex.Matcher url = java.util.regex.Pattern.compile("metrics on (http://\\S+)").matcher(coracle.logText());
        String metrics = url.find() ? url.group(1) : null;
        Map<String, double[]> handlerBefore = Map.of();
        // Warm-up (both JITs), then measure.
        for (int round = 0; round < 2; round++) {
            int n = round == 0 ? Math.max(50, calls / 2) : calls;
            if (round == 1 && metrics != null) {
                handlerBefore = handlerTimes(metrics);
            }
            for (int i = 0; i < n; i++) {
                for (String name : names) {
                    if (name.equals("Version")) {
                        long t = System.nanoTime();
                        RuntimeServiceGrpc.newBlockingStub(floorChannel).withDeadlineAfter(120, TimeUnit.SECONDS)
                                .version(VersionRequest.getDefaultInstance());
                        if (round == 1) {
                            floorTimes.add((System.nanoTime() - t) / 1e6);
                        }
                    }
                    for (int k : i % 2 == 0 ? new int[] {0, 1} : new int[] {1, 0}) {
                        long t = System.nanoTime();
                        ops.get(k + ":" + name).accept(i);
                        if (round == 1) {
                            (k == 0 ? a : b).get(name).add((System.nanoTime() - t) / 1e6);
                        }
                    }
                }
            }
        }
        afterStart.forEach((k, v) -> System.out.printf("right after StartContainer, %s %s: p50 %.2f ms%n",
                k.startsWith("0:") ? "Coracle" : "containerd", k.substring(2), CompareBenchmark.pct(v, 50)));
        System.out.printf("%n== Read path: %d calls each at %d pods, interleaved ==%n", calls, pods);
        CompareBenchmark.table(a, b);
        System.out.printf("Version from a bare grpc-java server in the client's JVM: p50 %.2f ms, p90 %.2f ms%n",
                CompareBenchmark.pct(floorTimes, 50), CompareBenchmark.pct(floorTimes, 90));
        if (metrics != null) {
            // What the handlers themselves took (the call interceptor's clock: from the call's start to its close),
            // so the rest of each figure is transport and client. Verbose and plain calls of a method together.
            Map<String, double[]> after = handlerTimes(metrics);
            StringBuilder line = new StringBuilder("Coracle's mean time inside the call, from its metrics:");
            for (Map.Entry<String, double[]> e : after.entrySet()) {
                double[] was = handlerBefore.getOrDefault(e.getKey(), new double[2]);
                double n = e.getValue()[1] - was[1];
                if (n > 0) {
                    line.append(String.format(" %s %.3f ms;", e.getKey(), (e.getValue()[0] - was[0]) * 1e3 / n));
                }
            }
            System.out.println(line);
        }
        floorChannel.shutdownNow();
        floor.shutdownNow();
        floorLoop.shutdownGracefully();
        floorClientLoop.shutdownGracefully();
        for (CompareBenchmark.Side s : both) {
            System.out.printf("%s RSS %.1f MiB%n", s.name(), ProcessTree.runtime(s.pid(), s.dir()).stream()
                    .filter(p -> p.pid() == s.pid()).mapToLong(ProcessTree.Proc::rssKiB).sum() / 1024.0);
        }
        long hold = Long.getLong("bench.hold", 0);
        long end = System.nanoTime() + hold * 1_000_000_000L;
        for (int i = 0; System.nanoTime() < end; i++) {
            for (String name : names) {
                ops.get("0:" + name).accept(i);
            }
        }
    }

    /** Per read method: the seconds summed and the calls counted in Coracle's request-duration metric (all codes). */
    static Map<String, double[]> handlerTimes(String metricsUrl) throws java.io.IOException, InterruptedException {
        Map<String, double[]> all = CompareBenchmark.timerSums(metricsUrl, "coracle_cri_request_duration_seconds", "method");
        all.keySet().retainAll(List.of("Version", "ListPodSandbox", "ListContainers", "PodSandboxStatus", "ContainerStatus",
                "ImageStatus", "ListImages"));
        return all;
    }
}
