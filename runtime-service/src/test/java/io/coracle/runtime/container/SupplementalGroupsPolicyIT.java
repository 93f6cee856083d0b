package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.LinuxContainerUser;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.SupplementalGroupsPolicy;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ImageBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * supplemental_groups_policy through the real daemon: Merge adds the groups the image's /etc/group
 * gives the user to the requested ones, Strict only the requested ones (and the primary group); the
 * process's groups (`id -G`) and ContainerStatus.user agree; Status reports the feature. A hostile
 * /etc/group (over the read bound, linked to the host's, with malformed lines) never gives a group the
 * image does not list, nor a gid read as 0.
 */
class SupplementalGroupsPolicyIT {
    static CriTestbed bed;
    static PodSandboxConfig pod;
    static String podId;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start();
        push(ImageBuilder.busybox().user("app").text("etc/group", 0644, "x".repeat(5 << 20) + "\n"), "huge");
        push(ImageBuilder.busybox().user("app").symlink("etc/group", "/proc/1/root/etc/group"), "linked");
        push(ImageBuilder.busybox().user("app").text("etc/group", 0644, """
                app:x:1000:
                good:x:2000:app
                no-colons-at-all
                ::::
                short:x
                bad:x:notanumber:app
                """), "badline");
        push(ImageBuilder.busybox().user("app").text("etc/group", 0644, """
                app:x:1000:
                wrap:x:4294967296:app
                """), "wrap");
        StringBuilder many = new StringBuilder("app:x:1000:\n");
        for (int g = 100_000; g < 170_000; g++) {
            many.append('g').append(g).append(":x:").append(g).append(":app\n");
        }
        push(ImageBuilder.busybox().user("app").text("etc/group", 0644, many.toString()), "many");
        pod = bed.pod("groups").build();
        podId = bed.runPod(pod);
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    private static void push(ImageBuilder image, String tag) throws Exception {
        image.cmd("sleep", "300").push(bed.registry, "library/groups", tag);
        bed.daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder()
                .setImage("docker.io/library/groups:" + tag)).build());
    }

    private static ContainerConfig.Builder app(String name, String image, SupplementalGroupsPolicy policy,
                                               long... groups) {
        LinuxContainerSecurityContext.Builder sc = LinuxContainerSecurityContext.newBuilder()
                .setSupplementalGroupsPolicy(policy);
        for (long g : groups) {
            sc.addSupplementalGroups(g);
        }
        return container(name, "sleep", "300").setImage(ImageSpec.newBuilder().setImage(image))
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc));
    }

    private static String groups(String id) throws Exception {
        bed.awaitStatus(id, st -> st.getState() != ContainerState.CONTAINER_CREATED, Duration.ofSeconds(10));
        ExecSyncResponse r = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                .addAllCmd(List.of("id", "-G")).setTimeout(10).build());
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toString(StandardCharsets.UTF_8).trim();
    }

    private static void assertUser(String id, long uid, long gid, List<Long> groups) {
        LinuxContainerUser u = bed.status(id).getUser().getLinux();
        assertEquals(uid, u.getUid());
        assertEquals(gid, u.getGid());
        assertEquals(groups, u.getSupplementalGroupsList());
    }

    @Test
    void statusReportsTheFeature() {
        assertTrue(bed.runtime().status(StatusRequest.getDefaultInstance()).getFeatures().getSupplementalGroupsPolicy());
    }

    @Test
    void mergeAddsTheImagesGroupsAndStrictDoesNot() throws Exception {
        String merge = bed.createAndStart(podId, pod, app("merge", CriTestbed.BUSYBOX_APP,
                SupplementalGroupsPolicy.Merge, 5678));
        assertEquals("1000 1234 5678", groups(merge));
        assertUser(merge, 1000, 1000, List.of(1000L, 1234L, 5678L));

        String strict = bed.createAndStart(podId, pod, app("strict", CriTestbed.BUSYBOX_APP,
                SupplementalGroupsPolicy.Strict, 5678));
        assertEquals("1000 5678", groups(strict));
        assertUser(strict, 1000, 1000, List.of(1000L, 5678L));

        String strictNone = bed.createAndStart(podId, pod, app("strict-none", CriTestbed.BUSYBOX_APP,
                SupplementalGroupsPolicy.Strict));
        assertEquals("1000", groups(strictNone));
        assertUser(strictNone, 1000, 1000, List.of(1000L));
    }

    @Test
    void anUnknownPolicyIsRefused() {
        ContainerConfig.Builder c = app("unknown", CriTestbed.BUSYBOX_APP, SupplementalGroupsPolicy.Merge);
        c.getLinuxBuilder().getSecurityContextBuilder().setSupplementalGroupsPolicyValue(7);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod, c));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains("supplemental_groups_policy"), e.getMessage());
    }

    @Test
    void aHugeGroupFileIsRefusedNotReadInPart() {
        for (SupplementalGroupsPolicy p : List.of(SupplementalGroupsPolicy.Merge, SupplementalGroupsPolicy.Strict)) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod,
                    app("huge-" + p, "docker.io/library/groups:huge", p)));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
            assertTrue(e.getStatus().getDescription().contains("more than the 4194304 read from an image"),
                    e.getMessage());
        }
    }

    @Test
    void aGroupFileLinkedToTheHostsGivesNoHostGroup() throws Exception {
        // /proc/1/root/etc/group resolves inside the image, where it names nothing.
        String id = bed.createAndStart(podId, pod, app("linked", "docker.io/library/groups:linked",
                SupplementalGroupsPolicy.Merge, 5678));
        assertEquals("1000 5678", groups(id));
    }

    @Test
    void malformedLinesAreNeverReadAsGidZero() throws Exception {
        // Merge: the entry listing the user with a gid that is no number refuses the container.
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod,
                app("badline", "docker.io/library/groups:badline", SupplementalGroupsPolicy.Merge)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains("gid of group 'bad' in the image's /etc/group is"
                + " 'notanumber'"), e.getMessage());
        e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod,
                app("wrap", "docker.io/library/groups:wrap", SupplementalGroupsPolicy.Merge)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains("'4294967296'"), e.getMessage());
        // Strict reads no supplemental group from the file: the same image runs with the requested ones.
        String id = bed.createAndStart(podId, pod, app("badline-strict", "docker.io/library/groups:badline",
                SupplementalGroupsPolicy.Strict, 3000));
        assertEquals("1000 3000", groups(id));
        assertUser(id, 1000, 1000, List.of(1000L, 3000L));
    }

    @Test
    void moreGroupsThanTheKernelTakesAreRefusedUnderMerge() throws Exception {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod,
                app("many", "docker.io/library/groups:many", SupplementalGroupsPolicy.Merge)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains("the user is in 70001 groups"), e.getMessage());
        String id = bed.createAndStart(podId, pod, app("many-strict", "docker.io/library/groups:many",
                SupplementalGroupsPolicy.Strict, 3000));
        assertEquals("1000 3000", groups(id));
    }
}
