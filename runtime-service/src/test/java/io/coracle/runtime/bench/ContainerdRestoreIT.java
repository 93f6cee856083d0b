package io.coracle.runtime.bench;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerMetadata;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ImageBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * CRI-O's restore request (CreateContainer whose image is the path of a checkpoint archive) sent to
 * Debian's containerd 1.6, for the README's comparison: it takes the path for an image reference to
 * pull, and fails; it never reads the archive.
 */
class ContainerdRestoreIT {
    @Test
    void containerd16TakesTheArchivePathForAnImageToPull() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/containerd")), "Debian's containerd is not installed");
        Path work = Files.createTempDirectory("coracle-ctrd-restore-");
        try (CriTestbed bed = CriTestbed.start()) {
            String reg = bed.registry.host();
            Path pauseBinary = Path.of(System.getProperty("coracle.dist"), "libexec", "coracle-pause");
            new ImageBuilder().hostProgram(pauseBinary.toString(), "pause").entrypoint("/pause")
                    .push(bed.registry, "restore/pause", "1");
            Path archive = Files.writeString(Files.createDirectories(work.resolve("checkpoints")).resolve("ckpt.tar"), "x");
            try (ContainerdProcess containerd = ContainerdProcess.start(work.resolve("containerd"), reg,
                    reg + "/restore/pause:1", "/coracle-ctrd-restore-" + Long.toHexString(System.nanoTime()))) {
                PodSandboxConfig pod = PodSandboxConfig.newBuilder()
                        .setMetadata(PodSandboxMetadata.newBuilder().setName("restore").setNamespace("bench")
                                .setUid("restore-" + Long.toHexString(System.nanoTime())))
                        .setLogDirectory(Files.createDirectories(work.resolve("logs")).toString())
                        .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent(containerd.cgroupParent)
                                .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(
                                        NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE)))).build();
                String podId = containerd.runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod)
                        .build()).getPodSandboxId();
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> containerd.runtime()
                        .createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId).setSandboxConfig(pod)
                                .setConfig(ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder()
                                        .setName("restored")).setImage(ImageSpec.newBuilder().setImage(archive.toString()))
                                        .setLogPath("restored.log")).build()));
                System.out.println("containerd 1.6 answered a restore (CreateContainer, image " + archive + "): "
                        + e.getStatus());
                assertNotEquals(Status.Code.OK, e.getStatus().getCode());
                containerd.runtime().stopPodSandbox(io.coracle.cri.v1.StopPodSandboxRequest.newBuilder()
                        .setPodSandboxId(podId).build());
                containerd.runtime().removePodSandbox(io.coracle.cri.v1.RemovePodSandboxRequest.newBuilder()
                        .setPodSandboxId(podId).build());
            }
        } finally {
            ContainerdProcess.unmountUnder(work);
            io.coracle.testing.DaemonProcess.deleteTree(work);
        }
    }
}
