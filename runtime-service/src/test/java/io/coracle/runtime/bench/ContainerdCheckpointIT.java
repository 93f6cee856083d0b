package io.coracle.runtime.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.coracle.cri.v1.CheckpointContainerRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The same CheckpointContainer request sent to Debian's containerd (1.6), for the comparison the
 * README gives: its CRI plugin has no checkpoint support and answers UNIMPLEMENTED, whatever the
 * container or the location.
 */
class ContainerdCheckpointIT {

    @Test
    void containerd16AnswersUnimplemented() throws Exception {
        // containerd is not among the packages `./coracle test` installs (its Debian package starts a
        // system daemon); `./coracle bench compare` installs it.
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/containerd")),
                "Debian's containerd is not installed");
        Path dir = Files.createTempDirectory("coracle-ctrd-ckpt-");
        Path location = dir.resolve("checkpoints/ckpt.tar");
        try (ContainerdProcess containerd = ContainerdProcess.start(dir, "127.0.0.1:1", "127.0.0.1:1/pause:3.9",
                "/coracle-ctrd-ckpt-" + Long.toHexString(System.nanoTime()))) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> containerd.runtime()
                    .checkpointContainer(CheckpointContainerRequest.newBuilder().setContainerId("0123456789abcdef")
                            .setLocation(location.toString()).setTimeout(60).build()));
            System.out.println("containerd " + containerdVersion() + " answered CheckpointContainer: " + e.getStatus());
            assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode(), e.getStatus().toString());
            assertFalse(Files.exists(location));
        }
    }

    private static String containerdVersion() throws Exception {
        Process p = new ProcessBuilder("/usr/bin/containerd", "--version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readNBytes(4096)).trim();
        p.waitFor();
        return out;
    }
}
