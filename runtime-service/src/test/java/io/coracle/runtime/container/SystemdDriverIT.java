package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.testing.CriTestbed;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * cgroup_driver = "systemd" against a real systemd (PID 1 of the user-mode-linux machine that
 * critest/systemd/run-in-uml.sh boots): what an operator sees with systemctl and in the cgroup files.
 * Skipped where systemd does not run (this build machine).
 */
@Tag("systemd")
class SystemdDriverIT {
    private static final Path BUS = Path.of("/run/dbus/system_bus_socket");
    private static final Path CGROUP = Path.of("/sys/fs/cgroup");

    @BeforeAll
    static void systemdRuns() throws IOException {
        Assumptions.assumeTrue(Files.exists(BUS) && Files.readString(Path.of("/proc/1/comm")).strip().equals("systemd")
                && Files.exists(CGROUP.resolve("cgroup.controllers")), "systemd is PID 1 on cgroup v2, with its bus");
    }

    /** The daemon's top-level keys: the systemd driver, its bus, and pods under coracle.slice by default. */
    private static final String SYSTEMD = "cgroup_driver = \"systemd\"\nsystemd_bus = \"" + BUS
            + "\"\ncgroup_parent = \"coracle.slice\"\n";

    @Test
    void podsAndContainersAreSystemdUnits(@TempDir Path dir) throws Exception {
        try (CriTestbed bed = CriTestbed.start(dir, SYSTEMD, "")) {
            PodSandboxConfig pod = hostNetwork(bed.pod("sd")).build();
            String podId = bed.runPod(pod);
            String podSlice = "coracle-pod" + podId + ".slice";
            String pauseScope = "coracle-" + podId + ".scope";
            Map<String, String> slice = show(podSlice, "ActiveState", "ControlGroup");
            assertEquals("active", slice.get("ActiveState"));
            assertEquals("/coracle.slice/" + podSlice, slice.get("ControlGroup"));
            Map<String, String> pause = show(pauseScope, "ActiveState", "ControlGroup", "Delegate", "Slice");
            assertEquals(Map.of("ActiveState", "active", "ControlGroup", "/coracle.slice/" + podSlice + "/" + pauseScope,
                    "Delegate", "yes", "Slice", podSlice), pause);

            // A cpuset only where the kernel has the controller (Debian's UML kernel has none).
            boolean cpuset = Files.readString(CGROUP.resolve("cgroup.controllers")).contains("cpuset");
            LinuxContainerResources.Builder limits = LinuxContainerResources.newBuilder()
                    .setMemoryLimitInBytes(64L << 20).setCpuShares(512).setCpuQuota(50_000).setCpuPeriod(100_000);
            if (cpuset) {
                limits.setCpusetCpus("0");
            }
            String ctr = bed.createAndStart(podId, pod, container("limited", "sleep", "300")
                    .setLinux(LinuxContainerConfig.newBuilder().setResources(limits)));
            String scope = "coracle-" + ctr + ".scope";
            String scopeGroup = "/coracle.slice/" + podSlice + "/" + scope;
            Map<String, String> unit = show(scope, "ActiveState", "ControlGroup", "MemoryMax", "Delegate", "Slice",
                    "CPUQuotaPerSecUSec", "CPUWeight");
            assertEquals(Map.of("ActiveState", "active", "ControlGroup", scopeGroup, "MemoryMax", "67108864",
                    "Delegate", "yes", "Slice", podSlice, "CPUQuotaPerSecUSec", "500ms", "CPUWeight", "20"), unit);
            if (cpuset) {
                assertEquals("0", show(scope, "AllowedCPUs").get("AllowedCPUs"));
            }
            Path cg = CGROUP.resolve(scopeGroup.substring(1));
            long pid = info(bed, ctr).get("pid");
            assertEquals(List.of(Long.toString(pid)), Files.readAllLines(cg.resolve("cgroup.procs")),
                    "the container's process, alone in its scope");
            assertEquals("sleep\n", Files.readString(Path.of("/proc", Long.toString(pid), "comm")));
            assertEquals("67108864", read(cg, "memory.max"));
            assertEquals("50000 100000", read(cg, "cpu.max"));
            assertEquals("20", read(cg, "cpu.weight")); // 512 shares
            if (cpuset) {
                assertEquals("0", read(cg, "cpuset.cpus"));
            }

            // Pause and shims live in the pause scope: a stop of the daemon's unit never reaches them.
            long shimPid = info(bed, ctr).get("shimPid");
            Path pauseCg = CGROUP.resolve(pause.get("ControlGroup").substring(1));
            List<String> inPause = Files.readAllLines(pauseCg.resolve("cgroup.procs"));
            assertTrue(inPause.contains(Long.toString(shimPid)), "the shim " + shimPid + " is in " + pauseScope + ": " + inPause);
            assertEquals("0::" + pause.get("ControlGroup"),
                    Files.readString(Path.of("/proc", Long.toString(shimPid), "cgroup")).strip());

            // UpdateContainerResources: systemd's property and the cgroup file.
            bed.runtime().updateContainerResources(UpdateContainerResourcesRequest.newBuilder().setContainerId(ctr)
                    .setLinux(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(96L << 20)
                            .setCpuShares(512).setCpuQuota(50_000).setCpuPeriod(100_000)).build());
            assertEquals("100663296", show(scope, "MemoryMax").get("MemoryMax"));
            assertEquals("100663296", read(cg, "memory.max"));

            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(ctr).setTimeout(1).build());
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ctr).build());
            assertGone(scope);
            assertFalse(Files.exists(cg), cg + " is gone");

            bed.removePod(podId);
            assertGone(pauseScope);
            // Coracle's own pod slice: stopped, its cgroup gone (systemd may keep the stopped unit loaded
            // while its parent slice still refers to it).
            Map<String, String> stopped = show(podSlice, "LoadState", "ActiveState");
            assertTrue(stopped.get("LoadState").equals("not-found") || stopped.get("ActiveState").equals("inactive"),
                    podSlice + " is stopped: " + stopped);
            assertFalse(Files.exists(CGROUP.resolve("coracle.slice").resolve(podSlice)), podSlice + "'s cgroup is gone");
        }
    }

    @Test
    void aRestartedDaemonStopsTheUnitsNoRecordOwns(@TempDir Path dir) throws Exception {
        try (CriTestbed bed = CriTestbed.start(dir, SYSTEMD, "")) {
            // A scope of a container no record knows (what a crash between StartTransientUnit and the
            // record leaves), with a process in it.
            String orphan = "coracle-" + "0f".repeat(32) + ".scope";
            Process held = new ProcessBuilder("systemd-run", "--scope", "--unit=" + orphan, "--quiet", "sleep", "300")
                    .redirectErrorStream(true).start();
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (!show(orphan, "ActiveState").get("ActiveState").equals("active")) {
                    assertTrue(System.nanoTime() < deadline, "systemd-run started " + orphan);
                    Thread.sleep(100);
                }
                bed.crashAndRestartDaemon();
                assertGone(orphan);
                assertTrue(held.waitFor(10, TimeUnit.SECONDS), "the orphan's process was stopped with it");
            } finally {
                held.destroyForcibly();
            }
        }
    }

    /** The unit is gone (systemd collects a stopped transient unit right after its job): LoadState=not-found. */
    private static void assertGone(String unit) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        Map<String, String> s = show(unit, "LoadState", "ActiveState");
        while (!s.get("LoadState").equals("not-found") && System.nanoTime() < deadline) {
            Thread.sleep(100);
            s = show(unit, "LoadState", "ActiveState");
        }
        assertEquals("not-found", s.get("LoadState"), unit + " is gone: " + s);
    }

    private static PodSandboxConfig.Builder hostNetwork(PodSandboxConfig.Builder pod) {
        // The node's network: this test is about cgroups, not CNI.
        return pod.setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE))));
    }

    private static Map<String, Long> info(CriTestbed bed, String ctr) {
        String json = bed.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(ctr)
                .setVerbose(true).build()).getInfoOrThrow("info");
        Map<String, Long> out = new HashMap<>();
        for (String key : List.of("pid", "shimPid")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"" + key + "\"\\s*:\\s*(\\d+)").matcher(json);
            assertTrue(m.find(), key + " in " + json);
            out.put(key, Long.parseLong(m.group(1)));
        }
        return out;
    }

    private static String read(Path cg, String file) throws IOException {
        return Files.readString(cg.resolve(file)).strip();
    }

    /** {@code systemctl show UNIT -p P1,P2...}, as an operator runs it. */
    static Map<String, String> show(String unit, String... properties) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("systemctl", "show", unit, "-p", String.join(",", properties))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readNBytes(1 << 16), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "systemctl show " + unit);
        Map<String, String> m = new HashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                m.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return m;
    }
}
