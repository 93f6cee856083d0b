package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RemoveImageRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ImageBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Image volumes (KEP-4639) through the real daemon: the image's merged layers (whiteouts applied)
 * mounted read-only at the container path, image_sub_path resolved inside the image and refused when
 * it climbs out (a "..", an absolute or a climbing symlink), names a file or nothing; the image leased
 * while a container mounts it (RemoveImage takes the name, the layers stay) and released with the container.
 */
class ImageVolumeIT {
    static CriTestbed bed;
    static PodSandboxConfig pod;
    static String podId;

    static final String VOL = "docker.io/library/vol:two";
    static final String ONE = "docker.io/library/vol:one";

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start("[runtimes.runc]\npath = \"/usr/sbin/runc\"\n");
        // Two layers: the upper one adds b.txt, whites out gone.txt and carries the hostile links.
        ImageBuilder lower = new ImageBuilder().text("data/a.txt", 0644, "from the lower layer\n")
                .text("data/gone.txt", 0644, "whited out\n").text("data/sub/inner.txt", 0644, "inner\n")
                .text("file.txt", 0644, "a file\n").text("secret.txt", 0600, "root only\n");
        ImageBuilder upper = new ImageBuilder().text("data/b.txt", 0644, "from the upper layer\n")
                .text("data/.wh.gone.txt", 0644, "")
                .symlink("inlink", "data/sub")          // stays inside: allowed
                .symlink("abs", "/etc")                  // absolute: an escape
                .symlink("climb", "../../../../../etc")  // climbs above the root: an escape
                .symlink("data/deep", "../../..");
        lower.push(bed.registry, "library/vol", List.of(upper), "two");
        new ImageBuilder().text("only/one.txt", 0644, "one layer\n").push(bed.registry, "library/vol", "one");
        for (String ref : List.of(VOL, ONE)) {
            bed.daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(ref))
                    .build());
        }
        pod = bed.pod("image-volume").build();
        podId = bed.runPod(pod);
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    private static Mount.Builder volume(String image, String path, String subPath) {
        return Mount.newBuilder().setContainerPath(path).setImage(ImageSpec.newBuilder().setImage(image))
                .setImageSubPath(subPath).setReadonly(true);
    }

    private static ContainerConfig.Builder withVolume(String name, Mount.Builder m) {
        return container(name, "sleep", "300").addMounts(m);
    }

    private static ExecSyncResponse exec(String id, String... cmd) throws Exception {
        bed.awaitStatus(id, st -> st.getState() != ContainerState.CONTAINER_CREATED, Duration.ofSeconds(10));
        assertEquals(ContainerState.CONTAINER_RUNNING, bed.status(id).getState());
        return bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd))
                .setTimeout(10).build());
    }

    private static String out(String id, String... cmd) throws Exception {
        ExecSyncResponse r = exec(id, cmd);
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toString(StandardCharsets.UTF_8);
    }

    private static StatusRuntimeException refused(ContainerConfig.Builder config, Status.Code code, String why) {
        int before = bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod, config));
        assertEquals(code, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains(why), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().startsWith("ImageVolumeMountFailed: "), e.getStatus().getDescription());
        assertEquals(before, bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
        return e;
    }

    /** The persisted image leases (one file per holder) of the daemon. */
    private static List<String> leases() throws Exception {
        try (Stream<Path> s = Files.list(bed.daemon.dir().resolve("root/leases"))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static void remove(String id) {
        bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
    }

    @Test
    void aUserNamespacedPodSeesTheImagesRootAsItsRootAndCannotWrite() throws Exception {
        long host = (1L << 30) + 65536L * (1500 + System.nanoTime() % 500);
        io.coracle.cri.v1.IDMapping map = io.coracle.cri.v1.IDMapping.newBuilder().setHostId((int) host).setLength(65536).build();
        io.coracle.cri.v1.NamespaceOption userns = io.coracle.cri.v1.NamespaceOption.newBuilder().setUsernsOptions(
                io.coracle.cri.v1.UserNamespace.newBuilder().setMode(io.coracle.cri.v1.NamespaceMode.POD).addUids(map).addGids(map))
                .build();
        PodSandboxConfig usernsPod = bed.pod("image-volume-userns").setLinux(io.coracle.cri.v1.LinuxPodSandboxConfig.newBuilder()
                .setSecurityContext(io.coracle.cri.v1.LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(userns))).build();
        String usernsPodId = bed.runPod(usernsPod);
        try {
            String id = bed.createAndStart(usernsPodId, usernsPod, withVolume("userns", volume(VOL, "/vol", ""))
                    .setLinux(io.coracle.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(
                            io.coracle.cri.v1.LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(userns))));
            // The layers are idmapped: the image's root-owned 0600 file is the pod root's, never chowned.
            assertEquals("0:0\nroot only\n", out(id, "sh", "-c", "stat -c %u:%g /vol/secret.txt; cat /vol/secret.txt"));
            assertEquals("from the upper layer\n", out(id, "cat", "/vol/data/b.txt"));
            assertEquals(String.valueOf(host), out(id, "sh", "-c", "awk '{print $2}' /proc/self/uid_map").strip());
            ExecSyncResponse write = exec(id, "touch", "/vol/data/new");
            assertNotEquals(0, write.getExitCode());
            assertTrue(write.getStderr().toStringUtf8().contains("Read-only file system"), write.getStderr().toStringUtf8());
            remove(id);
        } finally {
            bed.removePod(usernsPodId);
        }
    }

    @Test
    void theMergedImageIsMountedReadOnly() throws Exception {
        String id = bed.createAndStart(podId, pod, withVolume("merged", volume(VOL, "/vol", "")));
        assertEquals("from the lower layer\n", out(id, "cat", "/vol/data/a.txt"));
        assertEquals("from the upper layer\n", out(id, "cat", "/vol/data/b.txt"));
        assertEquals("a.txt\nb.txt\ndeep\nsub\n", out(id, "ls", "/vol/data"), "the whiteout hides gone.txt");
        ExecSyncResponse write = exec(id, "touch", "/vol/data/new");
        assertNotEquals(0, write.getExitCode());
        assertTrue(write.getStderr().toStringUtf8().contains("Read-only file system"), write.getStderr().toStringUtf8());
        // A link in the volume is the container's business: it resolves in the container's root.
        assertTrue(out(id, "readlink", "/vol/abs").startsWith("/etc"));
        assertTrue(out(id, "grep", " /vol ", "/proc/mounts").matches("overlay /vol overlay ro,.*\\n"),
                out(id, "grep", " /vol ", "/proc/mounts"));
        remove(id);
    }

    @Test
    void aOneLayerImageIsMountedToo() throws Exception {
        String id = bed.createAndStart(podId, pod, withVolume("one", volume(ONE, "/one", "")));
        assertEquals("one layer\n", out(id, "cat", "/one/only/one.txt"));
        assertNotEquals(0, exec(id, "touch", "/one/x").getExitCode());
        remove(id);
    }

    @Test
    void aSubPathShowsThatDirectoryOnly() throws Exception {
        String id = bed.createAndStart(podId, pod, withVolume("sub", volume(VOL, "/sub", "data")));
        assertEquals("a.txt\nb.txt\ndeep\nsub\n", out(id, "ls", "/sub"));
        String nested = bed.createAndStart(podId, pod, withVolume("nested", volume(VOL, "/nested", "data/sub/")));
        assertEquals("inner.txt\n", out(nested, "ls", "/nested"));
        // A relative link that stays inside the image is followed inside it.
        String linked = bed.createAndStart(podId, pod, withVolume("linked", volume(VOL, "/linked", "inlink")));
        assertEquals("inner\n", out(linked, "cat", "/linked/inner.txt"));
        // "data/sub/.." is data, inside the image.
        String dotdot = bed.createAndStart(podId, pod, withVolume("dotdot", volume(VOL, "/dd", "data/sub/..")));
        assertEquals("a.txt\nb.txt\ndeep\nsub\n", out(dotdot, "ls", "/dd"));
        for (String c : List.of(id, nested, linked, dotdot)) {
            remove(c);
        }
    }

    @Test
    void subPathsThatClimbOutOfTheImageAreRefused() {
        refused(withVolume("esc1", volume(VOL, "/v", "..")), Status.Code.INVALID_ARGUMENT, "escapes the image root");
        refused(withVolume("esc2", volume(VOL, "/v", "data/../../etc")), Status.Code.INVALID_ARGUMENT,
                "escapes the image root");
        refused(withVolume("esc3", volume(VOL, "/v", "abs")), Status.Code.INVALID_ARGUMENT,
                "an absolute symbolic link to /etc");
        refused(withVolume("esc4", volume(VOL, "/v", "climb")), Status.Code.INVALID_ARGUMENT, "escapes the image root");
        refused(withVolume("esc5", volume(VOL, "/v", "data/deep")), Status.Code.INVALID_ARGUMENT,
                "escapes the image root");
        refused(withVolume("esc6", volume(VOL, "/v", "/etc")), Status.Code.INVALID_ARGUMENT, "is absolute");
    }

    @Test
    void subPathsThatNameAFileOrNothingAreRefused() {
        refused(withVolume("file", volume(VOL, "/v", "file.txt")), Status.Code.INVALID_ARGUMENT, "is not a directory");
        refused(withVolume("none", volume(VOL, "/v", "no/such/dir")), Status.Code.NOT_FOUND,
                "does not exist in the image");
        refused(withVolume("wh", volume(VOL, "/v", "data/gone.txt")), Status.Code.NOT_FOUND,
                "does not exist in the image");
    }

    @Test
    void anImageNotPulledOrAWritableVolumeIsRefused() {
        refused(withVolume("absent", volume("docker.io/library/vol:never-pulled", "/v", "")), Status.Code.NOT_FOUND,
                "failed to resolve image \"docker.io/library/vol:never-pulled\"");
        refused(withVolume("rw", volume(VOL, "/v", "").setReadonly(false)), Status.Code.INVALID_ARGUMENT,
                "must be readonly");
        refused(withVolume("hp", volume(VOL, "/v", "").setHostPath("/etc")), Status.Code.INVALID_ARGUMENT,
                "host_path must be empty");
        for (String bad : List.of("data\0/x", "x".repeat(5000))) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod,
                    withVolume("bad", volume(VOL, "/v", bad))));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
            assertTrue(e.getStatus().getDescription().startsWith("config.mounts[0].image_sub_path"), e.getMessage());
        }
    }

    @Test
    void theImageStaysWhileMountedAndGoesWithTheContainer() throws Exception {
        String ref = "docker.io/library/vol:lease";
        new ImageBuilder().text("kept/k.txt", 0644, "kept\n").push(bed.registry, "library/vol", "lease");
        bed.daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(ref))
                .build());
        String id = bed.createAndStart(podId, pod, withVolume("lease", volume(ref, "/k", "")));
        assertTrue(leases().contains(id + ".volume0.json"), leases().toString());
        // As containerd: RemoveImage takes the image's name; what a running container mounts stays.
        bed.daemon.images().removeImage(RemoveImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(ref))
                .build());
        assertFalse(bed.daemon.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder()
                .setImage(ref)).build()).hasImage());
        assertEquals("kept\n", out(id, "cat", "/k/kept/k.txt"));
        // The layer directories the volume shows (the overlay's lowerdirs, as the container's /proc/mounts lists them).
        String line = out(id, "grep", " /k ", "/proc/mounts");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("lowerdir=([^,]+)").matcher(line);
        assertTrue(m.find(), line);
        List<Path> layers = Stream.of(m.group(1).split(":")).map(Path::of).toList();
        assertTrue(layers.stream().allMatch(Files::isDirectory), layers.toString());
        // The name is gone: a new container cannot mount it.
        refused(withVolume("lease2", volume(ref, "/k", "")), Status.Code.NOT_FOUND, "failed to resolve image");
        remove(id);
        assertFalse(leases().contains(id + ".volume0.json"), leases().toString());
        // The image's layer (not the shared empty bottom one) is collected with the lease.
        assertFalse(Files.exists(layers.get(0)), layers.get(0) + " outlived the last container mounting it");
    }

    @Test
    void aCrashKeepsTheVolumesOfLiveContainersAndReleasesThoseOfGoneOnes() throws Exception {
        String id = bed.createAndStart(podId, pod, withVolume("crash", volume(VOL, "/c", "data")));
        Path lease = bed.daemon.dir().resolve("root/leases").resolve(id + ".volume0.json");
        assertTrue(Files.exists(lease), lease.toString());
        // A lease left by a container the crash took before its record was written.
        String gone = "f".repeat(64);
        Files.writeString(lease.resolveSibling(gone + ".volume0.json"),
                Files.readString(lease).replace(id + ".volume0", gone + ".volume0"));
        bed.crashAndRestartDaemon();
        assertEquals("from the lower layer\n", out(id, "cat", "/c/a.txt"));
        assertTrue(leases().contains(id + ".volume0.json"), leases().toString());
        assertFalse(leases().contains(gone + ".volume0.json"), leases().toString());
        remove(id);
        assertFalse(leases().contains(id + ".volume0.json"), leases().toString());
    }

    @Test
    void runcAsTheHandlerMountsTheSameVolume() throws Exception {
        PodSandboxConfig runcPod = bed.pod("image-volume-runc").build();
        String runcPodId = bed.runtime().runPodSandbox(io.coracle.cri.v1.RunPodSandboxRequest.newBuilder()
                .setConfig(runcPod).setRuntimeHandler("runc").build()).getPodSandboxId();
        String id = bed.createAndStart(runcPodId, runcPod, withVolume("runc", volume(VOL, "/r", "data")));
        assertEquals("from the lower layer\n", out(id, "cat", "/r/a.txt"));
        assertEquals("a.txt\nb.txt\ndeep\nsub\n", out(id, "ls", "/r"));
        assertNotEquals(0, exec(id, "touch", "/r/new").getExitCode());
        bed.removePod(runcPodId);
    }
}
