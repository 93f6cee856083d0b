package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxState;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.testing.CriTestbed;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** kill -9 of the daemon with live containers, then a restart: everything is still there and manageable. */
class DaemonRestartIT {

    @Test
    void containersSurviveADaemonCrash() throws Exception {
        try (CriTestbed bed = CriTestbed.start()) {
            PodSandboxConfig pod = bed.pod("survivor").build();
            String podId = bed.runPod(pod);
            String running = bed.createAndStart(podId, pod, container("running", "sleep", "300"));
            String exiting = bed.createAndStart(podId, pod, container("exiting", "sh", "-c", "sleep 1; exit 5"));
            String created = bed.create(podId, pod, container("created", "sleep", "300"));

            bed.crashAndRestartDaemon();
            Thread.sleep(1500); // the exiting container exits while no daemon runs... or just after

            assertEquals(3, bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
            assertEquals(ContainerState.CONTAINER_RUNNING, bed.status(running).getState());
            ContainerStatus exited = bed.awaitStatus(exiting, s -> s.getState() == ContainerState.CONTAINER_EXITED,
                    Duration.ofSeconds(10));
            assertEquals(5, exited.getExitCode());
            assertTrue(exited.getFinishedAt() > exited.getStartedAt());
            assertEquals(ContainerState.CONTAINER_CREATED, bed.status(created).getState());
            assertEquals(PodSandboxState.SANDBOX_READY, bed.runtime().podSandboxStatus(PodSandboxStatusRequest
                    .newBuilder().setPodSandboxId(podId).build()).getStatus().getState());

            String out = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(running)
                    .addCmd("echo").addCmd("still-here").setTimeout(10).build()).getStdout()
                    .toString(StandardCharsets.UTF_8);
            assertEquals("still-here\n", out);
            bed.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(created).build());
            assertEquals(ContainerState.CONTAINER_RUNNING, bed.status(created).getState());
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(running).setTimeout(5).build());
            assertEquals(ContainerState.CONTAINER_EXITED, bed.status(running).getState());
            bed.removePod(podId);
            assertEquals(0, bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
        }
    }
}
