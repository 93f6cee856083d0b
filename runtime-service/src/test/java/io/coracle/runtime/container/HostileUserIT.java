package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.Image;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.Int64Value;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ImageBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Hostile users through the real daemon: an image's User or a pod spec naming an id the kernel would
 * truncate (2^32 runs as uid 0) or a negative one is refused and never reported as a valid uid, and an
 * image whose /etc links to the host's never gets a user from the host's /etc/passwd.
 */
class HostileUserIT {
    static CriTestbed bed;
    static PodSandboxConfig pod;
    static String podId;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start();
        push(ImageBuilder.busybox().user("4294967296"), "uid2p32");
        push(ImageBuilder.busybox().user("-1"), "minus1");
        push(ImageBuilder.busybox().user("2147483647"), "maxuid");
        push(etcLinkedTo("/etc"), "etc-self");
        push(etcLinkedTo("/proc/1/root/etc"), "etc-host");
        pod = bed.pod("hostile-user").build();
        podId = bed.runPod(pod);
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    /** busybox with sh and id, no passwd of its own, /etc a link to {@code target}, and User "nobody". */
    private static ImageBuilder etcLinkedTo(String target) throws Exception {
        return new ImageBuilder().hostProgram("/bin/busybox", "bin/busybox").hardlink("bin/sh", "bin/busybox")
                .hardlink("bin/id", "bin/busybox").symlink("etc", target).user("nobody").cmd("sleep", "300");
    }

    private static void push(ImageBuilder image, String tag) throws Exception {
        image.push(bed.registry, "library/hostile", tag);
        bed.daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ref(tag)).build());
    }

    private static ImageSpec ref(String tag) {
        return ImageSpec.newBuilder().setImage("docker.io/library/hostile:" + tag).build();
    }

    private static Image imageStatus(String tag) {
        return bed.daemon.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ref(tag)).build()).getImage();
    }

    private static ContainerConfig.Builder from(String tag, String name) {
        return container(name, "sleep", "300").setImage(ref(tag));
    }

    /** CreateContainer is refused with INVALID_ARGUMENT and a message holding {@code why}; no container is left. */
    private static void refused(ContainerConfig.Builder config, String why) {
        int before = bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod, config));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains(why), e.getStatus().getDescription());
        assertEquals(before, bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
    }

    private static String exec(String id, String... cmd) throws Exception {
        // The shim answers start before its state file says "running": wait until it does.
        bed.awaitStatus(id, st -> st.getState() != ContainerState.CONTAINER_CREATED, Duration.ofSeconds(10));
        ContainerStatus status = bed.status(id);
        if (status.getState() != ContainerState.CONTAINER_RUNNING) {
            Path log = Path.of(status.getLogPath());
            throw new AssertionError("container " + status.getMetadata().getName() + " is not running: " + status
                    + (Files.exists(log) ? Files.readString(log) : "(no log)"));
        }
        ExecSyncResponse r = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                .addAllCmd(List.of(cmd)).setTimeout(10).build());
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toString(StandardCharsets.UTF_8);
    }

    @Test
    void aCommandTheImageLacksIsTheRequestsFaultNotTheNodes() {
        // The shim decides the class where the lookup fails (its exit status), the daemon reads no prose.
        refusedAtStart(container("c1", "no-such-command"), "'no-such-command' not found in the image");
        refusedAtStart(container("c2", "/etc/passwd"), "'/etc/passwd' is not an executable file in the image");
    }

    /**
     * What the shim finds (it makes the process at StartContainer): the start is refused with
     * INVALID_ARGUMENT and {@code why}; the container is exited with reason StartError, and removable.
     */
    private static void refusedAtStart(ContainerConfig.Builder config, String why) {
        String id = bed.create(podId, pod, config);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runtime().startContainer(
                io.coracle.cri.v1.StartContainerRequest.newBuilder().setContainerId(id).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains(why), e.getStatus().getDescription());
        ContainerStatus s = bed.status(id);
        assertEquals(ContainerState.CONTAINER_EXITED, s.getState());
        assertEquals("StartError", s.getReason());
        assertTrue(s.getMessage().contains(why), s.getMessage());
        bed.runtime().removeContainer(io.coracle.cri.v1.RemoveContainerRequest.newBuilder().setContainerId(id).build());
    }

    @Test
    void anImageUserOf2p32IsNotAUidAndNeverRunsAsRoot() {
        // Reported as a name, not uid 4294967296: the kubelet cannot take it for non-root.
        Image image = imageStatus("uid2p32");
        assertFalse(image.hasUid(), image.toString());
        assertEquals("4294967296", image.getUsername());
        refused(from("uid2p32", "truncated"), "image config User '4294967296': user '4294967296' is out of range "
                + "0..2147483647");
    }

    @Test
    void anImageUserOfMinusOneIsNotAUidNorAName() {
        Image image = imageStatus("minus1");
        assertFalse(image.hasUid(), image.toString());
        assertEquals("-1", image.getUsername());
        refused(from("minus1", "negative"), "image config User '-1': user '-1' is neither a decimal id in "
                + "0..2147483647 nor a name");
    }

    @Test
    void requestIdsOutOfRangeAreRefused() {
        for (long bad : List.of(4294967296L, -1L, 2147483648L)) {
            refused(container("c", "sleep", "300").setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                    LinuxContainerSecurityContext.newBuilder().setRunAsUser(Int64Value.newBuilder().setValue(bad)))),
                    "run_as_user " + bad + " is out of range 0..2147483647");
            refused(container("c", "sleep", "300").setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                    LinuxContainerSecurityContext.newBuilder().setRunAsUser(Int64Value.newBuilder().setValue(1000))
                            .setRunAsGroup(Int64Value.newBuilder().setValue(bad)))),
                    "run_as_group " + bad + " is out of range 0..2147483647");
            refused(container("c", "sleep", "300").setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                    LinuxContainerSecurityContext.newBuilder().addSupplementalGroups(bad))),
                    "supplemental_groups[0] " + bad + " is out of range 0..2147483647");
            PodSandboxConfig.Builder badPod = bed.pod("bad-ids");
            badPod.getLinuxBuilder().getSecurityContextBuilder().setRunAsUser(Int64Value.newBuilder().setValue(bad));
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runPod(badPod.build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
            assertEquals("config.linux.security_context.run_as_user: " + bad + " is out of range 0..2147483647",
                    e.getStatus().getDescription());
        }
    }

    @Test
    void theLargestUidRunsAsItselfAndIsReportedAsIs() throws Exception {
        assertEquals(2147483647L, imageStatus("maxuid").getUid().getValue());
        String id = bed.createAndStart(podId, pod, from("maxuid", "maxuid"));
        assertEquals("2147483647\n", exec(id, "id", "-u"));
        assertEquals("0\n", exec(id, "id", "-g"));
        assertEquals(2147483647L, bed.status(id).getUser().getLinux().getUid());

        String byRequest = bed.createAndStart(podId, pod, container("maxreq", "sleep", "300").setLinux(
                LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                        .setRunAsUser(Int64Value.newBuilder().setValue(2147483647))
                        .setRunAsGroup(Int64Value.newBuilder().setValue(2147483647))
                        .addSupplementalGroups(2147483647))));
        assertEquals("uid=2147483647 gid=2147483647 groups=2147483647\n", exec(byRequest, "id"));
    }

    @Test
    void anEtcLinkedToTheHostNeverYieldsAHostUser() throws Exception {
        assumeTrue(Files.readString(Path.of("/etc/passwd")).lines().anyMatch(l -> l.startsWith("nobody:")),
                "the host's /etc/passwd has nobody");
        // etc -> /etc: inside the image a loop, never the host's /etc.
        refused(from("etc-self", "etc-self"), "the image's /etc/passwd: more than 40 symbolic links");
        // etc -> /proc/1/root/etc: the host's /etc if followed on the host; inside the image, nothing.
        // (A relative link climbing out of the layer is refused at pull; ImageRootFilesTest covers it.)
        refused(from("etc-host", "etc-host"), "user 'nobody' is not in the image's /etc/passwd");
    }
}
