package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxState;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.testing.CriTestbed;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * What systemd's stop or restart of the unit and a DaemonSet roll do: SIGKILL every process of the
 * daemon's cgroup. The daemon runs in a cgroup of its own (in every hierarchy); its shims and pause
 * processes must have left it, so every container keeps running, and the restarted daemon finds
 * them with their logs and exit codes.
 */
// Not tagged "cgroup": a whole daemon with a registry is too slow for the user-mode-linux stage.
class DaemonCgroupKillIT {
    private static final Path CGROUP_ROOT = Path.of("/sys/fs/cgroup");

    @Test
    void killingTheDaemonsWholeCgroupSparesEveryContainer() throws Exception {
        String name = "coracle-test-daemon-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000, 0x100000));
        List<Path> cgroups = new ArrayList<>();
        try (CriTestbed bed = CriTestbed.start()) {
            long daemonPid = bed.daemon.process().pid();
            for (Path hierarchy : hierarchies()) {
                Path dir = Files.createDirectory(hierarchy.resolve(name));
                cgroups.add(dir);
                for (String knob : List.of("cpuset.cpus", "cpuset.mems")) { // a new v1 cpuset starts empty
                    if (Files.exists(dir.resolve(knob))) {
                        Files.writeString(dir.resolve(knob), Files.readString(hierarchy.resolve(knob)).trim());
                    }
                }
                Files.writeString(dir.resolve("cgroup.procs"), Long.toString(daemonPid));
            }
            assertTrue(Files.readString(Path.of("/proc", Long.toString(daemonPid), "cgroup")).contains("/" + name),
                    "the daemon is in " + name);

            PodSandboxConfig podA = bed.pod("cgkill-a").build();
            PodSandboxConfig podB = bed.pod("cgkill-b").build();
            String a = bed.runPod(podA);
            String b = bed.runPod(podB);
            String serving = bed.createAndStart(a, podA, container("serving", "sh", "-c", "echo hello-before; sleep 300"));
            String later = bed.createAndStart(a, podA, container("later", "sh", "-c", "echo bye; sleep 3; exit 7"));
            String done = bed.createAndStart(b, podB, container("done", "sh", "-c", "echo finished; exit 3"));
            String other = bed.createAndStart(b, podB, container("other", "sleep", "300"));
            bed.awaitStatus(done, s -> s.getState() == ContainerState.CONTAINER_EXITED, Duration.ofSeconds(10));

            // Only the daemon is left in its cgroup: every shim and pause process went to its pod's.
            Set<Long> before = pids(cgroups);
            assertEquals(Set.of(daemonPid), before, () -> "processes in the daemon's cgroup " + name + ": "
                    + describe(before));
            Set<Long> inCgroup = before;

            // The kill: every process listed in the cgroup, in every hierarchy, until none is left.
            List<Long> killed = new ArrayList<>();
            for (int round = 0; !inCgroup.isEmpty(); round++) {
                assertTrue(round < 100, "processes survive SIGKILL in " + name + ": " + inCgroup);
                for (long pid : inCgroup) {
                    ProcessHandle.of(pid).ifPresent(p -> {
                        killed.add(pid);
                        p.destroyForcibly(); // SIGKILL
                    });
                }
                Thread.sleep(20);
                inCgroup = pids(cgroups);
            }
            assertTrue(killed.contains(daemonPid), "the daemon itself was killed: " + killed);
            bed.daemon.process().waitFor();
            bed.daemon.kill9(); // closes the test's client of the dead daemon

            bed.daemon = bed.daemon.relaunch();
            bed.daemon.awaitServing(Duration.ofSeconds(30));

            for (String pod : List.of(a, b)) {
                assertEquals(PodSandboxState.SANDBOX_READY, bed.runtime().podSandboxStatus(PodSandboxStatusRequest
                        .newBuilder().setPodSandboxId(pod).build()).getStatus().getState());
            }
            for (String running : List.of(serving, other)) {
                assertEquals(ContainerState.CONTAINER_RUNNING, bed.status(running).getState());
                ExecSyncResponse out = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(running)
                        .addCmd("sh").addCmd("-c").addCmd("echo alive; exit 4").setTimeout(10).build());
                assertEquals("alive\n", out.getStdout().toString(StandardCharsets.UTF_8));
                assertEquals(4, out.getExitCode());
            }
            ContainerStatus laterStatus = bed.awaitStatus(later, s -> s.getState() == ContainerState.CONTAINER_EXITED,
                    Duration.ofSeconds(10));
            assertEquals(7, laterStatus.getExitCode(), "exit code of a container that exited while no daemon ran");
            ContainerStatus doneStatus = bed.status(done);
            assertEquals(3, doneStatus.getExitCode());
            assertEquals(ContainerState.CONTAINER_EXITED, doneStatus.getState());

            Map<String, String> logs = Map.of(serving, "hello-before", later, "bye", done, "finished");
            for (var e : logs.entrySet()) {
                String log = Files.readString(Path.of(bed.status(e.getKey()).getLogPath()));
                assertTrue(log.matches("(?s)\\S+ stdout F " + e.getValue() + "\n"), "CRI log of " + e.getKey() + ": " + log);
            }
            bed.removePod(a);
            bed.removePod(b);
        } finally {
            for (Path dir : cgroups) {
                Files.deleteIfExists(dir); // empty: everything in it was killed
            }
        }
        for (Path hierarchy : hierarchies()) {
            assertFalse(Files.exists(hierarchy.resolve(name)), "left behind: " + hierarchy.resolve(name));
        }
    }

    /** Every cgroup hierarchy mounted here: /sys/fs/cgroup itself on v2, each mounted v1 hierarchy (and unified/) otherwise. */
    private static List<Path> hierarchies() throws IOException {
        if (Files.exists(CGROUP_ROOT.resolve("cgroup.controllers"))) {
            return List.of(CGROUP_ROOT);
        }
        try (Stream<Path> s = Files.list(CGROUP_ROOT)) {
            return s.filter(p -> !Files.isSymbolicLink(p) && Files.exists(p.resolve("cgroup.procs"))).sorted().toList();
        }
    }

    private static String describe(Set<Long> pids) {
        StringBuilder b = new StringBuilder();
        for (long pid : pids) {
            Path proc = Path.of("/proc", Long.toString(pid));
            try {
                b.append("\n").append(pid).append(' ')
                        .append(Files.readString(proc.resolve("cmdline")).replace('\0', ' '))
                        .append("\n").append(Files.readString(proc.resolve("cgroup")));
            } catch (IOException e) {
                b.append("\n").append(pid).append(" (gone)");
            }
        }
        return b.toString();
    }

    private static Set<Long> pids(List<Path> cgroups) throws IOException {
        Set<Long> pids = new LinkedHashSet<>();
        for (Path dir : cgroups) {
            for (String line : Files.readAllLines(dir.resolve("cgroup.procs"))) {
                if (!line.isBlank()) {
                    pids.add(Long.parseLong(line.trim()));
                }
            }
        }
        return pids;
    }
}
