package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxState;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.testing.CriTestbed;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * What systemd's stop or restart of the unit and a DaemonSet roll do: SIGKILL every process of the
 * daemon's cgroup. The daemon runs in a cgroup of its own (in every hierarchy); its shims and pause
 * processes must have left it, so every container keeps running, and the restarted daemon finds
 * them with their logs and exit codes.
 */
// Not tagged "cgroup": a whole daemon with a registry is too slow for the user-mode-linux stage. The
// cgroup mechanics (DaemonCgroup) hold on v2 too: there the daemon's cgroup is /sys/fs/cgroup/NAME and
// the kill goes through cgroup.kill first; ReleaseIT runs the same kill against the packaged daemon, and
// native's ShimLeavesTheDaemonCgroupTest (tagged, so run on v2 too) checks the shims leave that cgroup.
class DaemonCgroupKillIT {
    @Test
    void killingTheDaemonsWholeCgroupSparesEveryContainer() throws Exception {
        try (DaemonCgroup cgroup = DaemonCgroup.create(); CriTestbed bed = CriTestbed.start()) {
            long daemonPid = bed.daemon.process().pid();
            cgroup.enter(daemonPid);

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
            Set<Long> before = cgroup.pids();
            assertEquals(Set.of(daemonPid), before, () -> "processes in the daemon's cgroup " + cgroup.name() + ": "
                    + DaemonCgroup.describe(before));

            // The kill: every process listed in the cgroup, in every hierarchy, until none is left.
            List<Long> killed = cgroup.killAll();
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
        }
    }
}
