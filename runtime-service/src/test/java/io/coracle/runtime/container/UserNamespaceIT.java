package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.IDMapping;
import io.coracle.cri.v1.Int64Value;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.UserNamespace;
import io.coracle.testing.CriTestbed;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Pods with user namespaces (hostUsers: false), as a pod author sees them through the CRI: the pod's
 * root is an unprivileged uid on the host, every container and exec of the pod is in its one user
 * namespace, the image shows as root's without a chown of any layer, volumes are idmapped, and hostile
 * mappings are refused with nothing left.
 */
class UserNamespaceIT {
    /** Host ids far from any real user of this machine: 2^30 + n * 65536. */
    static final long HOST = (1L << 30) + 65536L * (System.nanoTime() % 1000);
    static final long LENGTH = 65536;

    static CriTestbed bed;
    static Path volume;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start();
        volume = Files.createTempDirectory("coracle-userns-vol-");
        Files.writeString(volume.resolve("from-host"), "host file\n");
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (bed != null) {
                bed.close();
            }
        } finally {
            if (volume != null) {
                io.coracle.testing.DaemonProcess.deleteTree(volume);
            }
        }
        // Nothing of the pods is left: no process runs as one of their host ids, no mount under the daemon's dir.
        assertEquals(List.of(), processesInRange(HOST, HOST + 4 * LENGTH));
        if (bed != null) {
            String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
            assertFalse(mounts.contains(bed.daemon.dir().toString()), mounts);
        }
    }

    static IDMapping map(long container, long host, long length) {
        return IDMapping.newBuilder().setContainerId((int) container).setHostId((int) host).setLength((int) length).build();
    }

    static UserNamespace podUserns(long host) {
        return UserNamespace.newBuilder().setMode(NamespaceMode.POD).addUids(map(0, host, LENGTH))
                .addGids(map(0, host, LENGTH)).build();
    }

    static PodSandboxConfig.Builder pod(String name, UserNamespace userns) {
        return bed.pod(name).setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext
                .newBuilder().setNamespaceOptions(NamespaceOption.newBuilder().setUsernsOptions(userns))));
    }

    static ContainerConfig.Builder inUserns(ContainerConfig.Builder c, UserNamespace userns) {
        return c.setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                .setNamespaceOptions(NamespaceOption.newBuilder().setUsernsOptions(userns))));
    }

    static long pid(String id) throws Exception {
        return new ObjectMapper().readTree(bed.runtime().containerStatus(ContainerStatusRequest.newBuilder()
                .setContainerId(id).setVerbose(true).build()).getInfoMap().get("info")).path("pid").asLong();
    }

    static String exec(String id, String... cmd) throws Exception {
        bed.awaitStatus(id, st -> st.getState() != ContainerState.CONTAINER_CREATED, Duration.ofSeconds(10));
        ExecSyncResponse r = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                .addAllCmd(List.of(cmd)).setTimeout(10).build());
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toString(StandardCharsets.UTF_8);
    }

    static String statusLine(long pid, String key) throws IOException {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream().filter(l -> l.startsWith(key + ":"))
                .findFirst().orElseThrow().split("\\s+")[1];
    }

    /** Live processes (not zombies: the host's init reaps orphans late) running as a host uid in [from, to). */
    static List<Long> processesInRange(long from, long to) throws IOException, InterruptedException {
        List<Long> found = liveInRange(from, to);
        for (int i = 0; i < 50 && !found.isEmpty(); i++) {
            Thread.sleep(100); // a killed process may take a moment to go
            found = liveInRange(from, to);
        }
        return found;
    }

    private static List<Long> liveInRange(long from, long to) throws IOException {
        List<Long> found = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("/proc"))) {
            for (Path p : s.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    long pid = Long.parseLong(p.getFileName().toString());
                    long uid = Long.parseLong(statusLine(pid, "Uid"));
                    if (uid >= from && uid < to && !statusLine(pid, "State").equals("Z")) {
                        found.add(Long.parseLong(p.getFileName().toString()));
                    }
                } catch (IOException | RuntimeException gone) {
                    // exited meanwhile
                }
            }
        }
        return found;
    }

    static String nsInode(long pid) throws IOException {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/user")).toString();
    }

    @Test
    void statusReportsUserNamespacesForCoraclesOwnShimFromTheKernelProbe() {
        var handlers = bed.runtime().status(StatusRequest.getDefaultInstance()).getRuntimeHandlersList();
        assertTrue(handlers.stream().anyMatch(h -> h.getName().isEmpty() && h.getFeatures().getUserNamespaces()),
                handlers.toString());
        assertTrue(handlers.stream().filter(h -> !h.getName().isEmpty()).noneMatch(h -> h.getFeatures().getUserNamespaces()),
                handlers.toString());
    }

    @Test
    void rootInThePodIsAnUnprivilegedHostUidAndEveryContainerAndExecShareItsUserNamespace() throws Exception {
        UserNamespace userns = podUserns(HOST);
        PodSandboxConfig pod = pod("userns", userns).build();
        String podId = bed.runPod(pod);
        try {
            Mount vol = Mount.newBuilder().setHostPath(volume.toString()).setContainerPath("/data").build();
            String a = bed.createAndStart(podId, pod, inUserns(container("a", "sleep", "300"), userns).addMounts(vol));
            // A container without userns_options in a user-namespaced pod joins the pod's too.
            String b = bed.createAndStart(podId, pod, container("b", "sleep", "300"));
            assertEquals("uid=0(root) gid=0(root) groups=0(root)", exec(a, "id").strip());
            long pa = pid(a);
            long pb = pid(b);
            // From the host: the container's root is HOST, with the kubelet's map.
            assertEquals(String.valueOf(HOST), statusLine(pa, "Uid"));
            assertEquals(String.valueOf(HOST), statusLine(pa, "Gid"));
            assertEquals(List.of("0", String.valueOf(HOST), String.valueOf(LENGTH)),
                    List.of(Files.readString(Path.of("/proc/" + pa + "/uid_map")).strip().split("\\s+")));
            assertEquals(List.of("0", String.valueOf(HOST), String.valueOf(LENGTH)),
                    List.of(Files.readString(Path.of("/proc/" + pa + "/gid_map")).strip().split("\\s+")));
            // One user namespace for the pod: both containers, and an exec (which reads it from inside).
            assertEquals(nsInode(pa), nsInode(pb));
            assertTrue(!nsInode(pa).equals(nsInode(ProcessHandle.current().pid())));
            assertEquals(nsInode(pa), exec(b, "readlink", "/proc/self/ns/user").strip());
            assertEquals("0 " + HOST + " " + LENGTH, exec(b, "cat", "/proc/self/uid_map").strip().replaceAll("\\s+", " "));
            // The image's files show as root's inside, through the idmapped layers...
            assertEquals("0:0", exec(a, "stat", "-c", "%u:%g", "/bin/busybox", "/etc/passwd").lines().distinct()
                    .reduce((x, y) -> x + "," + y).orElseThrow());
            // ... and are still root's on the host: no layer was chowned.
            try (Stream<Path> s = io.coracle.testing.DaemonProcess.filesOf(bed.daemon.dir()).stream()) {
                List<Path> layerBusybox = s.filter(p -> p.getFileName().toString().equals("busybox")
                        && p.getParent().getFileName().toString().equals("bin") && !p.toString().contains("/upper/")).toList();
                assertFalse(layerBusybox.isEmpty());
                for (Path p : layerBusybox) {
                    assertEquals(0, Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS), p.toString());
                }
            }
            // What root writes in its rootfs lands in the writable layer as HOST's.
            exec(a, "sh", "-c", "echo x > /made-by-root && mkdir /dir-by-root");
            Path made;
            try (Stream<Path> s = io.coracle.testing.DaemonProcess.filesOf(bed.daemon.dir()).stream()) {
                made = s.filter(p -> p.getFileName().toString().equals("made-by-root")).findFirst().orElseThrow();
            }
            assertEquals((int) HOST, Files.getAttribute(made, "unix:uid", LinkOption.NOFOLLOW_LINKS));
            // The volume is idmapped (as containerd 2.x mounts them): ids on disk are the ids inside.
            assertEquals("0:0 host file", exec(a, "sh", "-c", "echo $(stat -c %u:%g /data/from-host) $(cat /data/from-host)").strip());
            exec(a, "sh", "-c", "echo r > /data/by-root && echo u > /data/by-app && chown 1000:1000 /data/by-app");
            assertEquals(0, Files.getAttribute(volume.resolve("by-root"), "unix:uid", LinkOption.NOFOLLOW_LINKS));
            assertEquals(1000, Files.getAttribute(volume.resolve("by-app"), "unix:uid", LinkOption.NOFOLLOW_LINKS));
            assertEquals(1000, Files.getAttribute(volume.resolve("by-app"), "unix:gid", LinkOption.NOFOLLOW_LINKS));
            // proc, sysfs, devpts and tmpfs are the namespace's: root may not write the host's kernel knobs.
            ExecSyncResponse r = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(a)
                    .addAllCmd(List.of("sh", "-c", "echo 1 > /proc/sys/kernel/panic")).setTimeout(10).build());
            assertTrue(r.getExitCode() != 0, r.toString());
            // devpts and /dev's tmpfs were made inside: their root is the namespace's (not the overflow id).
            assertEquals("0", exec(a, "stat", "-c", "%u", "/dev/pts/ptmx").strip());
            assertEquals("0", exec(a, "stat", "-c", "%u", "/dev", "/dev/shm").lines().distinct()
                    .reduce((x, y) -> x + "," + y).orElseThrow());
        } finally {
            bed.removePod(podId);
        }
        assertEquals(List.of(), processesInRange(HOST, HOST + LENGTH));
    }

    @Test
    void aContainerRunAsAUserIsThatUserPlusTheOffsetOnTheHost() throws Exception {
        long host = HOST + LENGTH;
        UserNamespace userns = podUserns(host);
        PodSandboxConfig pod = pod("userns-app", userns).build();
        String podId = bed.runPod(pod);
        try {
            ContainerConfig.Builder c = container("app", "sleep", "300").setLinux(LinuxContainerConfig.newBuilder()
                    .setSecurityContext(LinuxContainerSecurityContext.newBuilder().setRunAsUser(Int64Value.newBuilder().setValue(1000).build())
                            .setNamespaceOptions(NamespaceOption.newBuilder().setUsernsOptions(userns))));
            String id = bed.createAndStart(podId, pod, c);
            assertEquals("1000", exec(id, "id", "-u").strip());
            assertEquals(String.valueOf(host + 1000), statusLine(pid(id), "Uid"));
            // An id outside the pod's map cannot be taken inside it.
            ContainerConfig.Builder outside = container("outside", "sleep", "300").setLinux(LinuxContainerConfig.newBuilder()
                    .setSecurityContext(LinuxContainerSecurityContext.newBuilder().setRunAsUser(Int64Value.newBuilder().setValue(LENGTH + 5).build())));
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.createAndStart(podId, pod, outside));
            assertTrue(e.getStatus().getDescription() != null, e.toString());
        } finally {
            bed.removePod(podId);
        }
    }

    private static void podRefused(String name, UserNamespace userns, Status.Code code, String why) {
        int before = bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runPod(pod(name, userns).build()));
        assertEquals(code, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains(why), e.getStatus().getDescription());
        assertEquals(before, bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
    }

    @Test
    void hostileMappingsAreRefusedAndLeaveNothing() throws Exception {
        Status.Code invalid = Status.Code.INVALID_ARGUMENT;
        UserNamespace.Builder pod = UserNamespace.newBuilder().setMode(NamespaceMode.POD);
        podRefused("two", pod.clone().addUids(map(0, HOST, LENGTH)).addUids(map(LENGTH, HOST + LENGTH, LENGTH))
                .addGids(map(0, HOST, LENGTH)).build(), invalid, "exactly one uid and one gid mapping");
        podRefused("overlap", pod.clone().addUids(map(0, HOST, LENGTH)).addUids(map(0, HOST + 10, LENGTH))
                .addGids(map(0, HOST, LENGTH)).build(), invalid, "exactly one uid and one gid mapping");
        podRefused("no-gid", pod.clone().addUids(map(0, HOST, LENGTH)).build(), invalid, "with 1 uid and 0 gid mappings");
        podRefused("not-root", pod.clone().addUids(map(1, HOST, LENGTH)).addGids(map(0, HOST, LENGTH)).build(), invalid,
                "uids[0].container_id: 1");
        podRefused("empty", pod.clone().addUids(map(0, HOST, 0)).addGids(map(0, HOST, LENGTH)).build(), invalid,
                "uids[0].length: 0");
        // host_id + length past 2^32-2: as unsigned 32-bit numbers, as the kubelet sends them.
        podRefused("overflow", pod.clone().addUids(map(0, 4294967295L - 100, LENGTH)).addGids(map(0, HOST, LENGTH)).build(),
                invalid, "passes the highest id 4294967294");
        podRefused("last-id", pod.clone().addUids(map(0, 4294967295L, 1)).addGids(map(0, HOST, LENGTH)).build(),
                invalid, "passes the highest id");
        podRefused("host-root", pod.clone().addUids(map(0, 0, LENGTH)).addGids(map(0, HOST, LENGTH)).build(), invalid,
                "would make the pod's root the host's root");
        podRefused("container", UserNamespace.newBuilder().setMode(NamespaceMode.CONTAINER).build(), invalid,
                "CONTAINER is not supported");
        podRefused("target", UserNamespace.newBuilder().setMode(NamespaceMode.TARGET).build(), invalid,
                "TARGET is not supported");
        podRefused("node-maps", UserNamespace.newBuilder().setMode(NamespaceMode.NODE).addUids(map(0, HOST, LENGTH))
                .addGids(map(0, HOST, LENGTH)).build(), invalid, "a node user namespace takes no mappings");
        // With the host's network, which belongs to the host's user namespace.
        int before = bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount();
        PodSandboxConfig.Builder hostNet = pod("hostnet", podUserns(HOST));
        hostNet.getLinuxBuilder().getSecurityContextBuilder().getNamespaceOptionsBuilder().setNetwork(NamespaceMode.NODE);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runPod(hostNet.build()));
        assertEquals(invalid, e.getStatus().getCode(), e.getMessage());
        assertEquals(before, bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
        assertEquals(List.of(), processesInRange(HOST, HOST + LENGTH));
    }

    @Test
    void aContainerWhoseMappingIsNotItsPodsIsRefused() throws Exception {
        long host = HOST + 2 * LENGTH;
        UserNamespace userns = podUserns(host);
        PodSandboxConfig pod = pod("userns-mismatch", userns).build();
        String podId = bed.runPod(pod);
        try {
            for (UserNamespace other : List.of(podUserns(host + LENGTH), podUserns(1),
                    UserNamespace.newBuilder().setMode(NamespaceMode.NODE).build(),
                    UserNamespace.newBuilder().setMode(NamespaceMode.CONTAINER).build())) {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                        () -> bed.create(podId, pod, inUserns(container("other", "sleep", "300"), other)));
                assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
                assertTrue(e.getStatus().getDescription().contains("not the pod's"), e.getStatus().getDescription());
            }
            ContainerConfig.Builder privileged = container("priv", "sleep", "300").setLinux(LinuxContainerConfig.newBuilder()
                    .setSecurityContext(LinuxContainerSecurityContext.newBuilder().setPrivileged(true)));
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod, privileged));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
            // A pod without a user namespace takes no container asking for one.
            PodSandboxConfig plain = bed.pod("no-userns").build();
            String plainId = bed.runPod(plain);
            try {
                e = assertThrows(StatusRuntimeException.class,
                        () -> bed.create(plainId, plain, inUserns(container("asks", "sleep", "300"), userns)));
                assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
            } finally {
                bed.removePod(plainId);
            }
        } finally {
            bed.removePod(podId);
        }
    }
}
