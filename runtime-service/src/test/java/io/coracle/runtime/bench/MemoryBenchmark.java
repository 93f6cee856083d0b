package io.coracle.runtime.bench;

import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.ImageServiceGrpc;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ImageBuilder;
import io.coracle.testing.LocalRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The daemons' memory alone, side by side with containerd: idle after start-up, after a pull, after a churn of
 * CHURN CRI operations (pods and containers created, started, stopped and removed, their statuses, the
 * lists, image status), then daemon alone and daemon + shims + pause at 10 and P running pods (P = 0:
 * no pods). Coracle runs through the {@code ./coracle} launcher, as a user runs it (its JVM line and
 * class-data archive). Each figure is the median of 5 samples a second apart, after SETTLE seconds idle.
 * Run: {@code ./coracle bench compare memory [CHURN] [P] [SETTLE]} (defaults 1000, 0, 15).
 */
final class MemoryBenchmark {
    private MemoryBenchmark() {}

    /** Daemons start through the {@code ./coracle} launcher: its JVM line, malloc arenas and class-data archive. */
    static void useLauncher() {
        Path dist = Path.of(System.getProperty("coracle.dist"));
        System.setProperty("coracle.launcher", dist.resolve("../../../coracle").normalize().toString());
    }

    static void run(String[] args) throws Exception {
        int churn = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        int many = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        int settle = args.length > 2 ? Integer.parseInt(args[2]) : 15;
        Path dist = Path.of(System.getProperty("coracle.dist"));
        useLauncher();
        Path work = Files.createTempDirectory("coracle-bench-");
        int net = ThreadLocalRandom.current().nextInt(0x100, 0x1000);
        try (LocalRegistry registry = LocalRegistry.start()) {
            String reg = registry.host();
            String busybox = reg + "/bench/busybox:1";
            String pause = reg + "/bench/pause:1";
            ImageBuilder.busybox().push(registry, "bench/busybox", "1");
            new ImageBuilder().hostProgram(dist.resolve("libexec/coracle-pause").toString(), "pause")
                    .entrypoint("/pause").push(registry, "bench/pause", "1");
            writeClassArchive(reg, busybox);
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
                         """.formatted(reg), "--log-level", "info")) {
                coracle.awaitServing(Duration.ofSeconds(60));
                CompareBenchmark.Side o = side("Coracle",
                        () -> RuntimeServiceGrpc.newBlockingStub(coracle.channel()).withDeadlineAfter(120, TimeUnit.SECONDS),
                        () -> ImageServiceGrpc.newBlockingStub(coracle.channel()).withDeadlineAfter(300, TimeUnit.SECONDS),
                        coracle.process().pid(), odir, "", work);
                CompareBenchmark.Side c = side("containerd", containerd::runtime, containerd::images,
                        containerd.process.pid(), cdir, containerd.cgroupParent, work);
                List<CompareBenchmark.Side> both = List.of(o, c);
                try {
                    System.out.printf("%n== Memory: RSS, median of 5 samples after %d s idle (PSS in brackets) ==%n", settle);
                    System.out.printf("%-46s %22s %22s %7s%n", "", o.name(), c.name(), "ratio");
                    row(both, "daemon alone, idle after start-up", true, settle);
                    int ops = 0;
                    for (CompareBenchmark.Side s : both) {
                        s.img().get().pullImage(PullImageRequest.newBuilder()
                                .setImage(ImageSpec.newBuilder().setImage(busybox)).build());
                    }
                    row(both, "daemon alone, idle after pulling busybox", true, settle);
                    for (int i = 0; ops < churn; i++) {
                        for (CompareBenchmark.Side s : i % 2 == 0 ? both : both.reversed()) {
                            cycle(s, "churn" + i, busybox);
                        }
                        ops += CYCLE_OPS;
                    }
                    row(both, "daemon alone, idle after " + ops + " operations", true, settle);
                    if (many > 0) {
                        for (int pods : many > 10 ? List.of(10, many) : List.of(many)) {
                            grow(both, pods, busybox);
                            row(both, "daemon alone, " + pods + " running pods", true, settle);
                            row(both, "daemon + shims + pause, " + pods + " running pods", false, 0);
                        }
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

    private static CompareBenchmark.Side side(String name, Supplier<RuntimeServiceGrpc.RuntimeServiceBlockingStub> rt,
                                              Supplier<ImageServiceGrpc.ImageServiceBlockingStub> img, long pid,
                                              Path dir, String cgroupParent, Path work) throws Exception {
        return new CompareBenchmark.Side(name, rt, img, pid, dir, cgroupParent,
                Files.createDirectories(work.resolve("logs-" + name)), new LinkedHashMap<>(), new LinkedHashMap<>(),
                new ArrayList<>());
    }

    private static final int CYCLE_OPS = 12;

    /** One pod's life: {@link #CYCLE_OPS} calls. */
    private static void cycle(CompareBenchmark.Side s, String name, String image) {
        var rt = s.rt();
        PodSandboxConfig pod = CompareBenchmark.pod(s, name);
        String podId = rt.get().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build()).getPodSandboxId();
        rt.get().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).build());
        String id = rt.get().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                .setConfig(CompareBenchmark.container(image)).setSandboxConfig(pod).build()).getContainerId();
        rt.get().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        rt.get().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build());
        s.img().get().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build());
        rt.get().listPodSandbox(ListPodSandboxRequest.getDefaultInstance());
        rt.get().listContainers(ListContainersRequest.getDefaultInstance());
        rt.get().stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(10).build());
        rt.get().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        rt.get().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        rt.get().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
    }

    /** Pods with one running container each, interleaved, until each side has {@code count}. */
    private static void grow(List<CompareBenchmark.Side> both, int count, String image) {
        for (int i = both.get(0).pods().size(); i < count; i++) {
            for (CompareBenchmark.Side s : both) {
                PodSandboxConfig pod = CompareBenchmark.pod(s, "m" + i);
                String podId = s.rt().get().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build())
                        .getPodSandboxId();
                String id = s.rt().get().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                        .setConfig(CompareBenchmark.container(image)).setSandboxConfig(pod).build()).getContainerId();
                s.rt().get().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                s.pods().add(podId);
            }
        }
    }

    /** Waits {@code settle} seconds, then prints the median of 5 samples of each side's RSS (and PSS). */
    private static void row(List<CompareBenchmark.Side> both, String what, boolean daemonOnly, int settle)
            throws Exception {
        Thread.sleep(settle * 1000L);
        long[][] rss = new long[2][5];
        long[][] pss = new long[2][5];
        int[] procs = new int[2];
        for (int k = 0; k < 5; k++) {
            for (int i = 0; i < 2; i++) {
                CompareBenchmark.Side s = both.get(i);
                procs[i] = 0;
                for (ProcessTree.Proc p : ProcessTree.runtime(s.pid(), s.dir())) {
                    if (!daemonOnly || p.pid() == s.pid()) {
                        rss[i][k] += p.rssKiB();
                        pss[i][k] += p.pssKiB();
                        procs[i]++;
                    }
                }
            }
            Thread.sleep(1000);
        }
        if (DETAIL != null && daemonOnly) {
            detail(both.get(0).pid(), what);
        }
        double[] r = {median(rss[0]), median(rss[1])};
        System.out.printf("%-46s %9.1f (%5.1f) MiB %9.1f (%5.1f) MiB %7.2f%s%n", what, r[0] / 1024, median(pss[0]) / 1024,
                r[1] / 1024, median(pss[1]) / 1024, r[0] / r[1],
                daemonOnly ? "" : "   [%d / %d processes]".formatted(procs[0], procs[1]));
    }

    /**
     * With CORACLE_BENCH_DETAIL=FILE, where Coracle's memory goes at each row, appended to FILE: smaps_rollup, the
     * largest mappings, heap, class histogram, threads, the JVM's own view (when CORACLE_JAVA_OPTS has
     * -XX:NativeMemoryTracking=summary); and the classes loaded, to FILE.&lt;row&gt;.classes.
     */
    /**
     * The launcher's class-data archive, as a user's daemon has it from its first run: when the build removed
     * it, a daemon started, pulled {@code image} and stopped writes it (the classes of start-up, CRI calls and
     * a pull); without it, every class the measured daemon loads would count in its metaspace.
     */
    static void writeClassArchive(String registry, String image) throws Exception {
        if (Files.exists(Path.of(System.getProperty("coracle.dist"), "coracle.jsa"))) {
            return;
        }
        Path dir = Files.createTempDirectory("coracle-it-");
        try (DaemonProcess d = DaemonProcess.launchWith(dir, """
                [registry.mirrors."%1$s"]
                endpoints = ["http://%1$s"]
                """.formatted(registry), "--log-level", "info")) {
            d.awaitServing(Duration.ofSeconds(60));
            ImageServiceGrpc.newBlockingStub(d.channel()).withDeadlineAfter(120, TimeUnit.SECONDS)
                    .pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build());
        }
    }

    static final String DETAIL = System.getenv("CORACLE_BENCH_DETAIL");

    static void detail(long pid, String what) throws Exception {
        String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
        List<List<String>> commands = List.of(List.of("cat", "/proc/" + pid + "/smaps_rollup"),
                List.of("sh", "-c", "pmap -x " + pid + " | sort -k3 -n -r | head -16"),
                List.of(jcmd, Long.toString(pid), "VM.native_memory", "summary"),
                List.of("sh", "-c", jcmd + " " + pid + " GC.heap_info; " + jcmd + " " + pid
                        + " GC.class_histogram | head -30"),
                List.of("sh", "-c", "cat /proc/" + pid + "/task/*/comm | sort | uniq -c"),
                List.of("sh", "-c", jcmd + " " + pid + " VM.classes > '" + DETAIL + "." + what.replaceAll("\\W+", "-")
                        + ".classes'"));
        Path out = Path.of(DETAIL);
        Files.writeString(out, "\n==== " + what + "\n", java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.APPEND);
        for (List<String> c : commands) {
            Process p = new ProcessBuilder(c).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile())).start();
            p.waitFor(60, TimeUnit.SECONDS);
        }
    }

    private static double median(long[] values) {
        long[] v = values.clone();
        java.util.Arrays.sort(v);
        return v[v.length / 2];
    }
}
