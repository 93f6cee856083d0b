package io.coracle.shim;

import io.coracle.testing.ImageBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Not a test: create + start + wait for /bin/true in a busybox overlay bundle, N times, then
 * the RSS of one idle shim. Run (as root):
 * mvn -pl native -q test-compile exec:java -Dexec.mainClass=io.coracle.shim.ShimBenchmark -Dexec.classpathScope=test [-Dbench.runs=200]
 */
public final class ShimBenchmark {
    public static void main(String[] args) throws Exception {
        int runs = Integer.getInteger("bench.runs", 200);
        Path layer = Files.createTempDirectory(Path.of("/tmp"), "coracle-test-bench-");
        Path lower = ImageBuilder.busyboxRootfs(layer.resolve("busybox"));
        // As in a pod: the containers join a pause's net, ipc and uts namespaces and get their
        // own mount and PID namespaces (-Dbench.ownNamespaces=true: all new, like a bare runc run).
        boolean own = Boolean.getBoolean("bench.ownNamespaces");
        io.coracle.sys.PauseLauncher pauses = new io.coracle.sys.PauseLauncher(TestContainer.PROGRAMS);
        int podPause = pauses.launch(new java.util.LinkedHashSet<>(List.of("net", "ipc", "uts")), "bench-pod", null,
                Duration.ofSeconds(5));
        List<Long> total = new ArrayList<>(), create = new ArrayList<>(), start = new ArrayList<>(), wait = new ArrayList<>();
        for (int i = 0; i < runs + 30; i++) {
            try (TestContainer c = new TestContainer(lower)) {
                c.args = List.of("/bin/true");
                c.useCgroup = !Boolean.getBoolean("bench.noCgroup");
                if (!own) {
                    c.hostname = null;
                    c.namespaces.clear();
                    c.namespaces.add(TestContainer.ns("mount"));
                    c.namespaces.add(TestContainer.ns("pid"));
                    for (String[] k : new String[][] {{"network", "net"}, {"ipc", "ipc"}, {"uts", "uts"}}) {
                        c.namespaces.add(new io.coracle.oci.Linux.Namespace(k[0], "/proc/" + podPause + "/ns/" + k[1]));
                    }
                }
                io.coracle.oci.OciJson.writeConfig(c.bundle, c.spec());
                ShimLauncher launcher = new ShimLauncher(TestContainer.PROGRAMS);
                long t0 = System.nanoTime();
                ShimClient client = launcher.create(new CreateRequest(c.bundle, c.state, c.log, false),
                        Duration.ofSeconds(10)).client();
                long t1 = System.nanoTime();
                client.start();
                long t2 = System.nanoTime();
                ExitRecord exit = client.awaitExit(Duration.ofSeconds(10)).orElseThrow();
                long t3 = System.nanoTime();
                if (exit.exitCode() != 0) {
                    throw new AssertionError("/bin/true exited " + exit);
                }
                if (System.getenv("CORACLE_SHIM_TRACE") != null && (t3 - t0) > 20_000_000) {
                    System.out.printf("java: t0 %.6f create %.2f ms, start %.2f ms, wait %.2f ms%n%s", t0 / 1e9,
                            (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, Files.readString(c.state.resolve("shim.log")));
                }
                if (i >= 30) { // the first runs warm up the JVM
                    total.add(t3 - t0);
                    create.add(t1 - t0);
                    start.add(t2 - t1);
                    wait.add(t3 - t2);
                }
            }
        }
        io.coracle.sys.Syscalls.kill(podPause, 9);
        System.out.printf("create+start+wait of /bin/true (%s), %d runs: median %.2f ms, p90 %.2f ms%n",
                own ? "all namespaces new" : "joining a pod's net/ipc/uts", runs,
                ms(total, 50), ms(total, 90));
        System.out.printf("  create median %.2f ms, start median %.2f ms, wait median %.2f ms%n",
                ms(create, 50), ms(start, 50), ms(wait, 50));
        try (TestContainer c = new TestContainer(lower)) {
            c.args = List.of("sleep", "60");
            c.create().start();
            Thread.sleep(200);
            int shim = c.client().stateFile().shimPid();
            System.out.println("idle shim " + rss(shim));
        }
        int pause = pauses.launch(new java.util.LinkedHashSet<>(List.of("net", "ipc", "uts", "pid")), "bench", null,
                Duration.ofSeconds(5));
        System.out.println("idle pause " + rss(pause));
        io.coracle.sys.Syscalls.kill(pause, 9);
        try (var s = Files.walk(layer)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static String rss(int pid) throws java.io.IOException {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                .filter(l -> l.startsWith("VmRSS") || l.startsWith("RssAnon") || l.startsWith("RssFile"))
                .map(l -> l.replaceAll("\\s+", " ")).reduce((a, b) -> a + ", " + b).orElse("?");
    }

    private static double ms(List<Long> nanos, int percentile) {
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        int idx = Math.min(sorted.size() - 1, (int) Math.ceil(percentile / 100.0 * sorted.size()) - 1);
        return sorted.get(Math.max(0, idx)) / 1e6;
    }
}
