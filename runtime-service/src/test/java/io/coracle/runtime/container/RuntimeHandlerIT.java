package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.testing.CriTestbed;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A RuntimeClass handler: the same bundle run by Debian's runc under Coracle's shim. */
class RuntimeHandlerIT {

    @Test
    void runcHandlerRunsTheSameContainers() throws Exception {
        try (CriTestbed bed = CriTestbed.start("[runtimes.runc]\npath = \"/usr/sbin/runc\"\n")) {
            assertEquals(List.of("", "runc"), bed.runtime().status(StatusRequest.getDefaultInstance())
                    .getRuntimeHandlersList().stream().map(h -> h.getName()).toList());

            PodSandboxConfig pod = bed.pod("runc").build();
            String podId = bed.runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod)
                    .setRuntimeHandler("runc").build()).getPodSandboxId();
            try {
                String once = bed.createAndStart(podId, pod, container("once", "sh", "-c",
                        "echo out-by-runc; echo err-by-runc >&2; exit 3"));
                ContainerStatus s = bed.awaitStatus(once, x -> x.getState() == ContainerState.CONTAINER_EXITED,
                        Duration.ofSeconds(20));
                assertEquals(3, s.getExitCode());
                String log = Files.readString(Path.of(s.getLogPath()));
                assertTrue(log.contains(" stdout F out-by-runc") && log.contains(" stderr F err-by-runc"), log);

                String sleeper = bed.createAndStart(podId, pod, container("sleeper", "sleep", "300"));
                // runc keeps its state for the container under the shim's state directory.
                Path runtimeState = Files.list(bed.daemon.dir().resolve("state/ctr"))
                        .filter(d -> sleeper.startsWith(d.getFileName().toString())).findFirst().orElseThrow()
                        .resolve("runtime");
                assertTrue(Files.isDirectory(runtimeState) && Files.list(runtimeState).findAny().isPresent());
                assertEquals("hello\n", bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(sleeper)
                        .addCmd("echo").addCmd("hello").setTimeout(10).build()).getStdout().toStringUtf8());
                String netns = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(sleeper)
                        .addCmd("hostname").setTimeout(10).build()).getStdout().toStringUtf8();
                assertEquals(pod.getHostname() + "\n", netns);
                // An update goes through the shim to "runc update": the files change, and so does runc's state.
                bed.runtime().updateContainerResources(UpdateContainerResourcesRequest.newBuilder()
                        .setContainerId(sleeper).setLinux(LinuxContainerResources.newBuilder().setCpuQuota(30000)
                                .setCpuPeriod(100000).setCpuShares(300).setMemoryLimitInBytes(80L << 20)).build());
                Path cpu = Files.walk(Path.of("/sys/fs/cgroup/cpu").resolve(bed.cgroupParent().substring(1)))
                        .filter(p -> p.endsWith(sleeper)).findFirst().orElseThrow();
                assertEquals("30000", Files.readString(cpu.resolve("cpu.cfs_quota_us")).trim());
                assertEquals("300", Files.readString(cpu.resolve("cpu.shares")).trim());
                Path memory = Path.of("/sys/fs/cgroup/memory").resolve(Path.of("/sys/fs/cgroup/cpu").relativize(cpu));
                assertEquals(String.valueOf(80L << 20), Files.readString(memory.resolve("memory.limit_in_bytes")).trim());
                assertTrue(Files.readString(runtimeState.resolve(runtimeState.getParent().getFileName()).resolve("state.json"))
                        .contains("\"memory\":" + (80L << 20)), "runc's own state records the new limit");
                assertEquals(80L << 20, bed.status(sleeper).getResources().getLinux().getMemoryLimitInBytes());
                bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(sleeper).setTimeout(5).build());
                assertEquals(ContainerState.CONTAINER_EXITED, bed.status(sleeper).getState());
            } finally {
                bed.removePod(podId);
            }

            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runtime().runPodSandbox(
                    RunPodSandboxRequest.newBuilder().setConfig(bed.pod("nope").build()).setRuntimeHandler("kata").build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("runtime handler \"kata\" is not configured"));
        }
    }
}
