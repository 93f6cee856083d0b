package io.coracle.runtime.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.UpdatePodSandboxResourcesRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Test;

/**
 * The same UpdatePodSandboxResources sent to Debian's containerd (1.6): it predates the RPC (its CRI
 * API has no such method) and answers UNIMPLEMENTED; containerd 2.x hands the request to NRI plugins
 * and records it, leaving the pod cgroup to the kubelet. Coracle writes the pod cgroup (PodResizeIT).
 */
class ContainerdPodResizeIT {
    @Test
    void debiansContainerdAnswersUnimplemented() throws Exception {
        Assertions.assertTrue(Files.isExecutable(java.nio.file.Path.of("/usr/bin/containerd")), "containerd is installed");
        try (ContainerdProcess containerd = ContainerdProcess.start(Files.createTempDirectory("coracle-ctrd-resize-"),
                "127.0.0.1:1", "127.0.0.1:1/pause:none", "/coracle-ctrd-resize")) {
            StatusRuntimeException e = Assertions.assertThrows(StatusRuntimeException.class, () -> containerd.runtime()
                    .updatePodSandboxResources(UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId("feedface")
                            .setResources(LinuxContainerResources.newBuilder().setCpuShares(512)).build()));
            assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode(), e.getStatus().toString());
            System.err.println("containerd 1.6 UpdatePodSandboxResources: " + e.getStatus());
        }
    }
}
