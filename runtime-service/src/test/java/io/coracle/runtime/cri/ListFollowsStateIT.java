package io.coracle.runtime.cri;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxState;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.testing.CriTestbed;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * ListPodSandbox and ListContainers keep each entry built until its pod's or container's record or state
 * changes: every change shows in the next list, whatever caused it (a CRI call, or a pause process killed).
 */
class ListFollowsStateIT {

    private static List<ContainerState> containerStates(CriTestbed bed, String podId) {
        return bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList().stream()
                .filter(c -> c.getPodSandboxId().equals(podId)).map(c -> c.getState()).toList();
    }

    private static List<PodSandboxState> podStates(CriTestbed bed, String podId) {
        return bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList().stream()
                .filter(p -> p.getId().equals(podId)).map(p -> p.getState()).toList();
    }

    @Test
    void everyChangeShowsInTheNextList() throws Exception {
        try (CriTestbed bed = CriTestbed.start()) {
            PodSandboxConfig pod = bed.pod("lists").build();
            String podId = bed.runPod(pod);
            String id = bed.create(podId, pod, container("c", "sleep", "300"));
            for (int i = 0; i < 2; i++) { // the second list answers from the kept entries
                assertEquals(List.of(ContainerState.CONTAINER_CREATED), containerStates(bed, podId));
                assertEquals(List.of(PodSandboxState.SANDBOX_READY), podStates(bed, podId));
            }
            bed.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
            assertEquals(List.of(ContainerState.CONTAINER_RUNNING), containerStates(bed, podId));
            assertEquals(List.of(ContainerState.CONTAINER_RUNNING), containerStates(bed, podId));
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(0).build());
            assertEquals(List.of(ContainerState.CONTAINER_EXITED), containerStates(bed, podId));
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
            assertEquals(List.of(), containerStates(bed, podId));

            // The pod's record stays the same while its pause process dies: the list still follows.
            String info = bed.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId)
                    .setVerbose(true).build()).getInfoMap().get("info");
            long pause = new ObjectMapper().readTree(info).get("pid").asLong();
            assertEquals(List.of(PodSandboxState.SANDBOX_READY), podStates(bed, podId));
            ProcessHandle.of(pause).orElseThrow().destroyForcibly();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!podStates(bed, podId).equals(List.of(PodSandboxState.SANDBOX_NOTREADY))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the pod is still listed " + podStates(bed, podId));
                }
                Thread.sleep(20);
            }
            bed.removePod(podId);
            assertEquals(List.of(), podStates(bed, podId));
        }
    }
}
