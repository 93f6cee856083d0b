package io.coracle.sandbox;

import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.sys.NativePrograms;
import io.coracle.testing.DaemonProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Latency of RunPodSandbox, StopPodSandbox and RemovePodSandbox with the embedded default CNI
 * config (bridge + host-local + portmap), in private temp dirs with a private bridge and subnet;
 * the state dir on tmpfs, as /run is on a node, the root dir on disk.
 * Run: see pod-sandbox/README.md (-Dcoracle.bench=true -Dtest=SandboxBenchmark).
 */
public class SandboxBenchmark {
    @Test
    @EnabledIfSystemProperty(named = "coracle.bench", matches = "true")
    void benchmark() throws Exception {
        main(new String[] {System.getProperty("coracle.bench.pods", "60")});
    }

    public static void main(String[] args) throws Exception {
        int pods = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        int warmup = 5;
        Path tmp = Files.createTempDirectory("coracle-bench-");
        // On a node the volatile state dir is on tmpfs (/run); this machine's /run is on disk.
        Files.createDirectories(tmp.resolve("state"));
        PodFixture.sh("mount", "-t", "tmpfs", "-o", "size=64m", "coracle-bench", tmp.resolve("state").toString());
        String bridge = "crbench" + Integer.toHexString((int) (System.nanoTime() & 0xffff));
        SandboxConfig cfg = SandboxConfig.defaults(tmp.resolve("state"), tmp.resolve("root"),
                        NativePrograms.locate().pause())
                .withCni(tmp.resolve("net.d"), bridge, "10.201.0.0/24")
                .withCgroups(SandboxConfig.CgroupDriver.CGROUPFS, "/coracle-test-bench");
        SandboxService svc = new SandboxService(cfg);
        svc.recover();
        List<Long> run = new ArrayList<>(), stop = new ArrayList<>(), remove = new ArrayList<>();
        List<Long> cniAdd = new ArrayList<>(), cniDel = new ArrayList<>();
        try {
            for (int i = 0; i < pods + warmup; i++) {
                PodSandboxConfig.Builder b = PodFixture.pod("bench-" + i)
                        .setDnsConfig(PodFixture.dns(List.of("10.96.0.10"), List.of("default.svc.cluster.local"), List.of("ndots:5")));
                long t0 = System.nanoTime();
                String id = svc.run(RunPodSandboxRequest.newBuilder().setConfig(b).build()).getPodSandboxId();
                long t1 = System.nanoTime();
                long add = CniNetwork.LAST_CALL_NANOS.get();
                svc.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
                long t2 = System.nanoTime();
                long del = CniNetwork.LAST_CALL_NANOS.get();
                svc.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
                long t3 = System.nanoTime();
                if (i >= warmup) {
                    run.add(t1 - t0);
                    stop.add(t2 - t1);
                    remove.add(t3 - t2);
                    cniAdd.add(add);
                    cniDel.add(del);
                }
            }
        } finally {
            for (Sandbox s : svc.store().all()) {
                svc.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.id()).build());
            }
            PodFixture.exec(10, "ip", "link", "del", bridge);
            DaemonProcess.deleteTree(Path.of("/var/lib/cni/networks", bridge));
            PodFixture.exec(10, "sh", "-c", "for h in /sys/fs/cgroup/*/coracle-test-bench; do rmdir $h; done");
            PodFixture.exec(10, "umount", tmp.resolve("state").toString());
            DaemonProcess.deleteTree(tmp);
        }
        String report = String.format("pod sandbox benchmark, %d pods (after %d warm-up), default CNI config%n", pods, warmup)
                + line("RunPodSandbox", run) + line("StopPodSandbox", stop) + line("RemovePodSandbox", remove)
                + "of which in CNI plugins (bridge, host-local, portmap, loopback):\n"
                + line("  CNI ADD", cniAdd) + line("  CNI DEL", cniDel)
                + String.format("load average at the end: %s%n", Files.readString(Path.of("/proc/loadavg")).trim());
        System.out.print(report);
        System.err.print(report);
        Files.writeString(Path.of("target", "sandbox-benchmark.txt"), report);
    }

    private static String line(String op, List<Long> nanos) {
        List<Long> s = nanos.stream().sorted().toList();
        return String.format("%-17s p50 %6.1f ms   p90 %6.1f ms   min %6.1f ms   max %6.1f ms%n", op,
                s.get(s.size() / 2) / 1e6, s.get((int) Math.ceil(s.size() * 0.9) - 1) / 1e6, s.getFirst() / 1e6, s.getLast() / 1e6);
    }
}
