package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ImageBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * An image whose mount targets are absolute symlinks to a host directory (/etc/hosts, /etc/resolv.conf,
 * a volume's directory), run through the daemon with the mounts the kubelet adds: the mounts land
 * inside the container's root, and the host is unchanged.
 */
class HostileMountTargetIT {

    @Test
    void mountTargetsThatAreSymlinksToTheHostNeverTouchTheHost() throws Exception {
        Path sentinel = Files.createTempDirectory(Path.of("/tmp"), "coracle-sentinel-");
        Path volume = Files.createTempDirectory("coracle-hostpath-");
        Path etcHosts = volume.resolveSibling(volume.getFileName() + "-etc-hosts");
        try (CriTestbed bed = CriTestbed.start()) {
            ImageBuilder.busybox()
                    .symlink("etc/hosts", sentinel + "/hosts")
                    // (A relative symlink climbing out of the layer is refused at pull: native's tests cover it.)
                    .symlink("etc/resolv.conf", sentinel + "/resolv.conf")
                    .symlink("data", sentinel + "/data")
                    .push(bed.registry, "library/hostile", "latest");
            String image = "docker.io/library/hostile:latest";
            bed.daemon.images().pullImage(PullImageRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(image)).build());
            Files.writeString(etcHosts, "10.9.8.7\tkubelet-hosts\n");
            Files.writeString(volume.resolve("f"), "volume\n");
            PodSandboxConfig pod = bed.pod("hostile").build();
            String podId = bed.runPod(pod);
            try {
                String id = bed.createAndStart(podId, pod, container("c", "sh", "-c",
                        "cat /etc/hosts /data/f; cat /etc/resolv.conf > /dev/null && echo resolv-ok")
                        .setImage(ImageSpec.newBuilder().setImage(image))
                        .addMounts(Mount.newBuilder().setContainerPath("/etc/hosts").setHostPath(etcHosts.toString()))
                        .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(volume.toString())));
                ContainerStatus s = bed.awaitStatus(id, x -> x.getState() == ContainerState.CONTAINER_EXITED,
                        Duration.ofSeconds(30));
                String out = Files.readAllLines(Path.of(s.getLogPath())).stream().map(l -> l.split(" ", 4)[3])
                        .collect(Collectors.joining("\n"));
                assertEquals(0, s.getExitCode(), out);
                assertEquals("10.9.8.7\tkubelet-hosts\nvolume\nresolv-ok", out);
            } finally {
                bed.removePod(podId);
            }
            try (Stream<Path> left = Files.list(sentinel)) {
                assertEquals(List.of(), left.toList(), "the container's set-up created files on the host");
            }
            assertEquals("10.9.8.7\tkubelet-hosts\n", Files.readString(etcHosts));
            try (Stream<Path> v = Files.list(volume)) {
                assertEquals(List.of(volume.resolve("f")), v.toList());
            }
        } finally {
            for (Path p : List.of(sentinel, volume, etcHosts)) {
                deleteTree(p);
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
        assertTrue(!Files.exists(dir, LinkOption.NOFOLLOW_LINKS));
    }
}
