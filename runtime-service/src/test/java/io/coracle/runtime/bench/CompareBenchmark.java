package io.coracle.runtime.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerMetadata;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.ImageServiceGrpc;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListImagesRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RemoveImageRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ImageBuilder;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.TarWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

/**
 * Coracle against Debian's containerd 1.6 + runc, side by side: the same CRI calls from this one
 * client, interleaved (the order of the two alternating per round), the same CNI network (a bridge
 * conflist, each with its own bridge and host-local state), the same images from one local registry.
 * Prints per-operation p50/p90 and the Coracle/containerd ratio, memory (daemon alone, and daemon +
 * shims + pause) at 0, 10 and P running pods, the CPU of a kubelet-like polling load at P pods, and a
 * cold pull of a multi-layer image. Run: {@code ./coracle bench compare [N] [P] [PULLS] [POLL_SECONDS]}
 * (defaults 30 rounds, 100 pods, 3 cold pulls per runtime, 20 s of polling). {@code ./coracle bench
 * compare pull [PULLS] [SHAPE...]} runs the cold pulls alone, of each shape (default: small, large, mixed).
 */
public final class CompareBenchmark {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> OPS = List.of("RunPodSandbox", "PodSandboxStatus", "PodSandboxStatus (verbose)",
            "CreateContainer", "StartContainer", "ContainerStatus", "ContainerStatus (verbose)", "ImageStatus",
            "ListImages", "ListPodSandbox", "ListContainers", "StopContainer", "RemoveContainer", "StopPodSandbox",
            "RemovePodSandbox");
    private static final List<String> POLL_OPS = List.of("ListPodSandbox", "ListContainers", "PodSandboxStatus",
            "ContainerStatus");

    /** One runtime under test, as the client sees it. */
    record Side(String name, Supplier<RuntimeServiceGrpc.RuntimeServiceBlockingStub> rt,
                Supplier<ImageServiceGrpc.ImageServiceBlockingStub> img, long pid, Path dir, String cgroupParent,
                Path logs, Map<String, List<Double>> times, Map<String, List<Double>> pollTimes, List<String> pods) {
        Side {
            for (String op : OPS) {
                times.put(op, new ArrayList<>());
            }
            for (String op : POLL_OPS) {
                pollTimes.put(op, new ArrayList<>());
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("memory")) { // ./coracle bench compare memory [CHURN] [P] [SETTLE]
            MemoryBenchmark.run(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        MemoryBenchmark.useLauncher(); // Coracle as users run it, not a bare java -jar
        boolean pullOnly = args.length > 0 && args[0].equals("pull");
        List<String> shapes = pullOnly && args.length > 2 ? List.of(args).subList(2, args.length) : List.of("small", "large", "mixed");
        int n = !pullOnly && args.length > 0 ? Integer.parseInt(args[0]) : 30;
        int many = !pullOnly && args.length > 1 ? Integer.parseInt(args[1]) : 100;
        int pulls = pullOnly ? (args.length > 1 ? Integer.parseInt(args[1]) : 3) : args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int pollSeconds = !pullOnly && args.length > 3 ? Integer.parseInt(args[3]) : 20;
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
            Map<String, String> bigImages = new LinkedHashMap<>();
            for (String shape : pullOnly ? shapes : List.of("mixed")) {
                bigImages.put(reg + "/bench/" + shape + ":1", pushBigImage(registry, "bench/" + shape, "1", shape));
            }

            MemoryBenchmark.writeClassArchive(reg, busybox);
            Path cdir = Files.createDirectories(work.resolve("containerd"));
            writeNetwork(cdir.resolve("cni"), "bench-ctrd", "cbc" + Integer.toHexString(net), cdir.resolve("ipam"),
                    "10.%d.%d.0/24".formatted(230 + net % 8, net % 250));
            Path odir = Files.createTempDirectory("coracle-it-");
            writeNetwork(odir.resolve("cni"), "bench-coracle", "cbo" + Integer.toHexString(net), odir.resolve("ipam"),
                    "10.%d.%d.0/24".formatted(238 + net % 8, net % 250));
            try (ContainerdProcess containerd = ContainerdProcess.start(cdir, reg, pause,
                    "/coracle-bench-ctrd-" + Integer.toHexString(net));
                 DaemonProcess coracle = DaemonProcess.launchWith(odir, """
                         [registry.mirrors."%1$s"]
                         endpoints = ["http://%1$s"]
                         """.formatted(reg), "--log-level", "info")) { // containerd logs at info too
                coracle.awaitServing(Duration.ofSeconds(60));
                // Deadlines as containerd's stubs have them: a loaded machine must not fail the run.
                Side o = new Side("Coracle",
                        () -> RuntimeServiceGrpc.newBlockingStub(coracle.channel()).withDeadlineAfter(120, TimeUnit.SECONDS),
                        () -> ImageServiceGrpc.newBlockingStub(coracle.channel()).withDeadlineAfter(300, TimeUnit.SECONDS),
                        coracle.process().pid(), odir, "",
                        Files.createDirectories(work.resolve("logs-coracle")), new LinkedHashMap<>(), new LinkedHashMap<>(),
                        new ArrayList<>());
                Side c = new Side("containerd", containerd::runtime, containerd::images, containerd.process.pid(), cdir,
                        containerd.cgroupParent, Files.createDirectories(work.resolve("logs-containerd")),
                        new LinkedHashMap<>(), new LinkedHashMap<>(), new ArrayList<>());
                List<Side> both = List.of(o, c);
                try {
                    if (pullOnly) {
                        Thread.sleep(2000);
                        System.out.printf("%n== Memory (RSS; PSS in brackets: shared pages counted once) ==%n");
                        System.out.printf("%-44s %22s %22s %7s%n", "", o.name(), c.name(), "ratio");
                        memory(both, "daemon alone, idle after start-up", true);
                        // A first small pull loads what any pull needs (gRPC, HTTP client, TLS classes): the
                        // figures after the cold pulls compare with this one.
                        for (Side s : both) {
                            s.img().get().pullImage(PullImageRequest.newBuilder()
                                    .setImage(ImageSpec.newBuilder().setImage(busybox)).build());
                        }
                        Thread.sleep(3000);
                        memory(both, "daemon alone, idle after pulling busybox", true);
                        for (Map.Entry<String, String> b : bigImages.entrySet()) {
                            coldPulls(both, pulls, b.getKey(), b.getValue(), coracle);
                        }
                        System.out.println();
                        idleAfterPulls(both);
                    } else {
                        run(both, n, many, pulls, pollSeconds, busybox, pause, bigImages, coracle);
                    }
                } finally {
                    for (Side s : both) {
                        removeAll(s);
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

    private static void run(List<Side> both, int n, int many, int pulls, int pollSeconds, String busybox, String pause,
                            Map<String, String> bigImages, DaemonProcess coracle) throws Exception {
        Side o = both.get(0);
        Side c = both.get(1);
        for (Side s : both) {
            s.img().get().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(busybox)).build());
        }
        // containerd pulls its sandbox image on the first RunPodSandbox: the warm-up rounds do that.
        int warmup = 3;
        for (int i = 0; i < n + warmup; i++) {
            for (Side s : i % 2 == 0 ? both : both.reversed()) {
                cycle(s, "b" + i, busybox, i >= warmup);
            }
        }
        System.out.printf("%n== CRI operations: %d rounds (after %d warm-up), one pod with one busybox container each,"
                + " interleaved ==%n", n, warmup);
        table(o.times(), c.times());
        java.util.regex.Matcher url = java.util.regex.Pattern.compile("metrics on (http://\\S+)").matcher(coracle.logText());
        if (url.find()) { // where Coracle's share of those calls went, from its own metrics
            StringBuilder line = new StringBuilder("Coracle's mean time inside each call (its metrics, warm-up included):");
            timerSums(url.group(1), "coracle_cri_request_duration_seconds", "method").forEach((m, v) ->
                    line.append(String.format(" %s %.2f ms;", m, v[0] * 1e3 / v[1])));
            line.append(" of which the CNI plugins:");
            timerSums(url.group(1), "coracle_cni_operation_duration_seconds", "op").forEach((op, v) ->
                    line.append(String.format(" %s %.2f ms;", op.toUpperCase(java.util.Locale.ROOT), v[0] * 1e3 / v[1])));
            System.out.println(line);
        }

        Thread.sleep(2000);
        System.out.printf("%n== Memory (RSS; PSS in brackets: shared pages counted once) ==%n");
        System.out.printf("%-44s %22s %22s %7s%n", "", o.name(), c.name(), "ratio");
        memory(both, "daemon alone, idle after the rounds above", true);
        memory(both, "daemon + shims + pause, 0 pods", false);
        for (int pods : many > 10 ? List.of(10, many) : List.of(many)) {
            grow(both, pods, busybox);
            memory(both, "daemon alone, " + pods + " running pods", true);
            memory(both, "daemon + shims + pause, " + pods + " running pods", false);
        }

        poll(both, pollSeconds);
        System.out.printf("%n== Kubelet-like polling at %d pods: once a second for %d s, ListPodSandbox, ListContainers,"
                + " and PodSandboxStatus + ContainerStatus (not verbose) of every pod ==%n", many, pollSeconds);
        table(o.pollTimes(), c.pollTimes());

        for (Side s : both) {
            removeAll(s);
        }
        Thread.sleep(2000);
        System.out.println();
        memory(both, "daemon alone, idle after removing all pods", true);

        for (Map.Entry<String, String> b : bigImages.entrySet()) {
            coldPulls(both, pulls, b.getKey(), b.getValue(), coracle);
        }
        System.out.println();
        idleAfterPulls(both);
    }

    /** Both daemons 2 s after the last pull, and 15 s after it (the JVM trims its malloc heap every 10 s). */
    private static void idleAfterPulls(List<Side> both) throws Exception {
        Thread.sleep(2000);
        memory(both, "daemon alone, 2 s after the pulls", true);
        Thread.sleep(13000);
        memory(both, "daemon alone, 15 s after the pulls", true);
    }

    /**
     * Cold pulls of {@code big}, interleaved, the order alternating; prints every run and the medians, and
     * where each of Coracle's pulls spent its time, from its own log.
     */
    private static void coldPulls(List<Side> both, int pulls, String big, String bigInfo, DaemonProcess coracle)
            throws IOException {
        Side o = both.get(0);
        System.out.printf("%n== Cold pull of %s (pull + unpack; image removed and garbage-collected before each) ==%n",
                bigInfo);
        Map<String, List<Double>> po = new LinkedHashMap<>();
        Map<String, List<Double>> pc = new LinkedHashMap<>();
        List<String> steps = new ArrayList<>();
        for (Map<String, List<Double>> m : List.of(po, pc)) {
            m.put("PullImage", new ArrayList<>());
            m.put("daemon CPU (ms)", new ArrayList<>()); // user + system, with waited-for children (unpigz)
        }
        for (int r = 0; r < pulls; r++) {
            for (Side s : r % 2 == 0 ? both : both.reversed()) {
                removeImage(s, big);
                double cpu = ProcessTree.cpuSeconds(List.of(s.pid()));
                long t = System.nanoTime();
                int logged = s == o ? coracle.logText().length() : 0;
                s.img().get().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(big)).build());
                (s == o ? po : pc).get("PullImage").add((System.nanoTime() - t) / 1e6);
                (s == o ? po : pc).get("daemon CPU (ms)").add((ProcessTree.cpuSeconds(List.of(s.pid())) - cpu) * 1e3);
                if (s == o) {
                    steps.add(pullSteps(coracle.logText().substring(logged)));
                }
            }
        }
        System.out.println("Coracle's steps, from its log (layers download and unpack at once, several at a time):");
        steps.forEach(l -> System.out.println("  " + l));
        for (Side s : both) {
            removeImage(s, big);
        }
        System.out.printf("runs: Coracle %s ms (daemon CPU %s ms); containerd %s ms (CPU %s ms)%n", po.get("PullImage"),
                po.get("daemon CPU (ms)"), pc.get("PullImage"), pc.get("daemon CPU (ms)"));
        table(po, pc);
    }

    /**
     * Per value of {@code label}: the seconds summed and the events counted by a timer of Coracle's
     * metrics endpoint (every other label summed over).
     */
    static Map<String, double[]> timerSums(String metricsUrl, String metric, String label)
            throws IOException, InterruptedException {
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        String text = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(metricsUrl)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        java.util.regex.Pattern p = java.util.regex.Pattern.compile("^" + metric + "_(sum|count)\\{[^}]*\\b" + label
                + "=\"([^\"]+)\"[^}]*} (\\S+)$");
        Map<String, double[]> out = new java.util.TreeMap<>();
        for (String line : text.split("\n")) {
            java.util.regex.Matcher m = p.matcher(line);
            if (m.find()) {
                out.computeIfAbsent(m.group(2), k -> new double[2])[m.group(1).equals("sum") ? 0 : 1]
                        += Double.parseDouble(m.group(3));
            }
        }
        return out;
    }

    private static final java.util.regex.Pattern STEP_MS = java.util.regex.Pattern.compile(
            "(blob pulled|layer unpacked|pull done) .* ms=(\\d+)");

    /** One pull's downloads, unpacks and total, in ms, from the daemon's log lines of that pull. */
    static String pullSteps(String log) {
        List<Long> blobs = new ArrayList<>();
        List<Long> unpacks = new ArrayList<>();
        long total = -1;
        for (String line : log.split("\n")) {
            java.util.regex.Matcher m = STEP_MS.matcher(line);
            if (m.find()) {
                long ms = Long.parseLong(m.group(2));
                switch (m.group(1)) {
                    case "blob pulled" -> blobs.add(ms);
                    case "layer unpacked" -> unpacks.add(ms);
                    default -> total = ms;
                }
            }
        }
        return "downloads " + blobs + " ms, unpacks " + unpacks + " ms (sum " + unpacks.stream().mapToLong(x -> x).sum()
                + "), pull done at " + total + " ms";
    }

    /** One pod's life with every call timed. */
    private static void cycle(Side s, String name, String image, boolean record) {
        var rt = s.rt();
        PodSandboxConfig pod = pod(s, name);
        long t = System.nanoTime();
        String podId = rt.get().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build()).getPodSandboxId();
        t = rec(s, "RunPodSandbox", t, record);
        rt.get().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).build());
        t = rec(s, "PodSandboxStatus", t, record);
        rt.get().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).setVerbose(true).build());
        t = rec(s, "PodSandboxStatus (verbose)", t, record);
        String id = rt.get().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                .setConfig(container(image)).setSandboxConfig(pod).build()).getContainerId();
        t = rec(s, "CreateContainer", t, record);
        rt.get().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        t = rec(s, "StartContainer", t, record);
        rt.get().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build());
        t = rec(s, "ContainerStatus", t, record);
        rt.get().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).setVerbose(true).build());
        t = rec(s, "ContainerStatus (verbose)", t, record);
        s.img().get().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build());
        t = rec(s, "ImageStatus", t, record);
        s.img().get().listImages(ListImagesRequest.getDefaultInstance());
        t = rec(s, "ListImages", t, record);
        rt.get().listPodSandbox(ListPodSandboxRequest.getDefaultInstance());
        t = rec(s, "ListPodSandbox", t, record);
        rt.get().listContainers(ListContainersRequest.getDefaultInstance());
        t = rec(s, "ListContainers", t, record);
        rt.get().stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(10).build());
        t = rec(s, "StopContainer", t, record);
        rt.get().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        t = rec(s, "RemoveContainer", t, record);
        rt.get().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        t = rec(s, "StopPodSandbox", t, record);
        rt.get().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        rec(s, "RemovePodSandbox", t, record);
    }

    private static long rec(Side s, String op, long start, boolean record) {
        long now = System.nanoTime();
        if (record) {
            s.times().get(op).add((now - start) / 1e6);
        }
        return System.nanoTime();
    }

    static PodSandboxConfig pod(Side s, String name) {
        String uid = name + "-" + Long.toHexString(System.nanoTime());
        // As the kubelet sends it by default: each container in its own PID namespace.
        LinuxPodSandboxConfig.Builder linux = LinuxPodSandboxConfig.newBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(
                        NamespaceOption.newBuilder().setPid(NamespaceMode.CONTAINER)));
        if (!s.cgroupParent().isEmpty()) {
            linux.setCgroupParent(s.cgroupParent()); // Coracle's test config has its own parent
        }
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("bench").setUid(uid))
                .setHostname(name).setLogDirectory(s.logs().resolve(uid).toString()).setLinux(linux).build();
    }

    /**
     * A container that exits on SIGTERM (a shell as PID 1 ignores it otherwise), and not before: a run on
     * a loaded machine outlasts 10 minutes, and the first pods' containers had exited by the 100-pod figures.
     */
    static ContainerConfig container(String image) {
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName("c"))
                .setImage(ImageSpec.newBuilder().setImage(image))
                .addAllCommand(List.of("sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"))
                .setLogPath("c.log").build();
    }

    /** Starts pods (one running container each) on both sides, interleaved, until each has {@code count}. */
    private static void grow(List<Side> both, int count, String image) {
        for (int i = both.get(0).pods().size(); i < count; i++) {
            for (Side s : both) {
                PodSandboxConfig pod = pod(s, "m" + i);
                String podId = s.rt().get().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build())
                        .getPodSandboxId();
                String id = s.rt().get().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                        .setConfig(container(image)).setSandboxConfig(pod).build()).getContainerId();
                s.rt().get().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                s.pods().add(podId);
            }
        }
        try {
            Thread.sleep(3000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void memory(List<Side> both, String what, boolean daemonOnly) throws Exception {
        long[] rss = new long[2];
        long[] pss = new long[2];
        int[] procs = new int[2];
        for (int i = 0; i < 2; i++) {
            Side s = both.get(i);
            for (ProcessTree.Proc p : ProcessTree.runtime(s.pid(), s.dir())) {
                if (!daemonOnly || p.pid() == s.pid()) {
                    rss[i] += p.rssKiB();
                    pss[i] += p.pssKiB();
                    procs[i]++;
                }
            }
        }
        System.out.printf("%-44s %9.1f (%5.1f) MiB %9.1f (%5.1f) MiB %7.2f%s%n", what, rss[0] / 1024.0, pss[0] / 1024.0,
                rss[1] / 1024.0, pss[1] / 1024.0, rss[0] / (double) rss[1],
                daemonOnly ? "" : "   [%d / %d processes]".formatted(procs[0], procs[1]));
        if (MemoryBenchmark.DETAIL != null && daemonOnly) {
            MemoryBenchmark.detail(both.get(0).pid(), what);
        }
    }

    /** The kubelet's once-a-second relist, on both sides in turn each second; prints each daemon's CPU per second. */
    private static void poll(List<Side> both, int seconds) throws Exception {
        List<List<Long>> pids = new ArrayList<>();
        double[] cpu0 = new double[2];
        for (int i = 0; i < 2; i++) {
            Side s = both.get(i);
            pids.add(ProcessTree.runtime(s.pid(), s.dir()).stream().map(ProcessTree.Proc::pid).toList());
            cpu0[i] = ProcessTree.cpuSeconds(pids.get(i));
        }
        long start = System.nanoTime();
        for (int tick = 0; tick < seconds; tick++) {
            for (Side s : both) {
                var rt = s.rt().get();
                long t = System.nanoTime();
                rt.listPodSandbox(ListPodSandboxRequest.getDefaultInstance());
                t = pollRec(s, "ListPodSandbox", t);
                var containers = rt.listContainers(ListContainersRequest.getDefaultInstance()).getContainersList();
                t = pollRec(s, "ListContainers", t);
                for (String podId : s.pods()) {
                    rt.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).build());
                    t = pollRec(s, "PodSandboxStatus", t);
                }
                for (var ctr : containers) {
                    rt.containerStatus(ContainerStatusRequest.newBuilder().setContainerId(ctr.getId()).build());
                    t = pollRec(s, "ContainerStatus", t);
                }
            }
            long next = start + (tick + 1) * 1_000_000_000L;
            Thread.sleep(Math.max(0, (next - System.nanoTime()) / 1_000_000));
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        double[] per = new double[2];
        for (int i = 0; i < 2; i++) {
            per[i] = (ProcessTree.cpuSeconds(pids.get(i)) - cpu0[i]) / elapsed;
        }
        System.out.printf("%n%-44s %17.1f ms/s %17.1f ms/s %7.2f%n", "polling CPU (daemon + shims), per second",
                per[0] * 1000, per[1] * 1000, per[0] / per[1]);
    }

    private static long pollRec(Side s, String op, long start) {
        long now = System.nanoTime();
        s.pollTimes().get(op).add((now - start) / 1e6);
        return System.nanoTime();
    }

    static void table(Map<String, List<Double>> a, Map<String, List<Double>> b) {
        System.out.printf("%-28s %10s %10s %12s %10s %7s%n", "operation", "Coracle p50", "p90", "containerd p50",
                "p90", "ratio");
        for (String op : a.keySet()) {
            List<Double> x = a.get(op);
            List<Double> y = b.get(op);
            if (x.isEmpty() || y.isEmpty()) {
                continue;
            }
            double r = pct(x, 50) / pct(y, 50);
            System.out.printf("%-28s %8.2f ms %7.2f ms %11.2f ms %7.2f ms %7.2f%s%n", op, pct(x, 50), pct(x, 90),
                    pct(y, 50), pct(y, 90), r, r <= 0.5 ? "" : "  *");
        }
    }

    static double pct(List<Double> values, int p) {
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.get(Math.min(sorted.size() - 1, Math.max(0, (int) Math.ceil(p / 100.0 * sorted.size()) - 1)));
    }

    static void removeAll(Side s) throws InterruptedException {
        for (var ctr : s.rt().get().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
            s.rt().get().stopContainer(StopContainerRequest.newBuilder().setContainerId(ctr.getId()).setTimeout(10).build());
            retried(() -> s.rt().get().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ctr.getId()).build()));
        }
        for (var p : s.rt().get().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            s.rt().get().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
            retried(() -> s.rt().get().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build()));
        }
        s.pods().clear();
    }

    /** containerd 1.6 sometimes still calls a container running just after StopContainer returned: try again. */
    private static void retried(Runnable call) throws InterruptedException {
        for (int attempt = 1; ; attempt++) {
            try {
                call.run();
                return;
            } catch (io.grpc.StatusRuntimeException e) {
                if (attempt == 10) {
                    throw e;
                }
                Thread.sleep(300);
            }
        }
    }

    /** Removes the image by its ID (every tag), which garbage-collects its blobs and snapshots on both runtimes. */
    private static void removeImage(Side s, String ref) {
        var status = s.img().get().imageStatus(ImageStatusRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(ref)).build());
        if (status.hasImage()) {
            s.img().get().removeImage(RemoveImageRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(status.getImage().getId())).build());
        }
    }

    /** The same bridge network as Coracle's default (bridge, isGateway, ipMasq, hairpin; host-local; portmap). */
    static void writeNetwork(Path confDir, String name, String bridge, Path ipamDir, String subnet) throws Exception {
        Files.createDirectories(confDir);
        Files.writeString(confDir.resolve("10-bench.conflist"), """
                {"cniVersion": "0.4.0", "name": "%s", "plugins": [
                  {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": true, "hairpinMode": true,
                   "ipam": {"type": "host-local", "ranges": [[{"subnet": "%s"}]], "routes": [{"dst": "0.0.0.0/0"}],
                            "dataDir": "%s"}},
                  {"type": "portmap", "capabilities": {"portMappings": true}}]}
                """.formatted(name, bridge, subnet, ipamDir));
    }

    /**
     * A 5-layer image of one shape: "mixed", one layer of ~4,000 small files (1–48 KiB) and four of a
     * few large files (12–20 MiB); "small", 4,096 files of 48 KiB over the five; "large", only the large
     * files. Half of each file random, half text, so it compresses about 2:1 as real images do. Returns
     * a description.
     */
    private static String pushBigImage(LocalRegistry registry, String repo, String tag, String shape) throws Exception {
        Random rnd = new Random(16);
        List<Map<String, Object>> layers = new ArrayList<>();
        List<String> diffIds = new ArrayList<>();
        long raw = 0;
        long compressed = 0;
        int files = 0;
        for (int l = 0; l < 5; l++) {
            TarWriter tar = new TarWriter();
            tar.dir("l" + l, 0755);
            if (shape.equals("small")) {
                // 4,096 files of 48 KiB in all, spread over the layers and 16 dirs per layer.
                for (int d = 0; d < 16; d++) {
                    tar.dir("l" + l + "/d" + d, 0755);
                }
                for (int f = l; f < 4096; f += 5) {
                    tar.file("l" + l + "/d" + (f % 16) + "/f" + f, 0644, content(rnd, 48 * 1024));
                    files++;
                }
            } else if (l == 0 && shape.equals("mixed")) {
                for (int d = 0; d < 64; d++) {
                    tar.dir("l0/d" + d, 0755);
                }
                for (int f = 0; f < 4000; f++) {
                    tar.file("l0/d" + (f % 64) + "/f" + f, 0644, content(rnd, 1024 + rnd.nextInt(47 * 1024)));
                    files++;
                }
            } else {
                for (int f = 0; f < 4; f++) {
                    tar.file("l" + l + "/big" + f, 0644, content(rnd, (12 << 20) + rnd.nextInt(8 << 20)));
                    files++;
                }
            }
            byte[] layer = tar.finish();
            byte[] gz = gzip(layer);
            raw += layer.length;
            compressed += gz.length;
            diffIds.add(LocalRegistry.digest(layer));
            layers.add(Map.of("mediaType", "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest", registry.pushBlob(repo, gz), "size", gz.length));
        }
        byte[] config = JSON.writeValueAsBytes(Map.of("architecture", "amd64", "os", "linux",
                "config", Map.of("Cmd", List.of("/bin/sh")), "rootfs", Map.of("type", "layers", "diff_ids", diffIds)));
        byte[] manifest = JSON.writeValueAsBytes(Map.of("schemaVersion", 2,
                "mediaType", "application/vnd.oci.image.manifest.v1+json",
                "config", Map.of("mediaType", "application/vnd.oci.image.config.v1+json",
                        "digest", registry.pushBlob(repo, config), "size", config.length),
                "layers", layers));
        registry.pushManifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", manifest);
        return "%s, a %s 5-layer image: %d files, %.0f MB, %.0f MB gzipped".formatted(repo, shape, files, raw / 1e6, compressed / 1e6);
    }

    private static byte[] content(Random rnd, int len) {
        byte[] b = new byte[len];
        rnd.nextBytes(b);
        byte[] text = "a line of a configuration file, with some words in it\n".getBytes(StandardCharsets.US_ASCII);
        for (int i = len / 2; i < len; i++) {
            b[i] = text[i % text.length];
        }
        return b;
    }

    private static byte[] gzip(byte[] raw) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length / 2);
        try (GZIPOutputStream gz = new GZIPOutputStream(out, 1 << 16) {
            {
                def.setLevel(Deflater.BEST_SPEED);
            }
        }) {
            gz.write(raw);
        }
        return out.toByteArray();
    }
}
