package io.coracle.runtime.container;

import static io.coracle.runtime.container.UserNamespaceIT.map;
import static io.coracle.runtime.container.UserNamespaceIT.nsInode;
import static io.coracle.runtime.container.UserNamespaceIT.processesInRange;
import static io.coracle.runtime.container.UserNamespaceIT.statusLine;
import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RuntimeHandler;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.UserNamespace;
import io.coracle.testing.CriTestbed;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Pods with user namespaces on the OCI runtime handlers (runc, crun), through the CRI: where a
 * handler's probe passed, the pod's root is an unprivileged host uid in the pod's one namespace, the
 * image shows as root's with no layer chowned, volumes are idmapped, hostile mappings are refused;
 * where it failed, Status says false and such a pod is refused with the probe's reason.
 */
class RuntimeHandlerUserNamespaceIT {
    /** Host ids far from any real user of this machine and from UserNamespaceIT's. */
    static final long HOST = (1L << 30) + 65536L * (2000 + System.nanoTime() % 1000);
    static final long LENGTH = 65536;
    static final Path RUNC = Path.of("/usr/sbin/runc");
    static final Path CRUN = Path.of("/usr/bin/crun");

    static Path dir;
    static CriTestbed bed;
    static Path volume;

    @BeforeAll
    static void start() throws Exception {
        StringBuilder toml = new StringBuilder();
        for (Path runtime : List.of(RUNC, CRUN)) {
            if (Files.isExecutable(runtime)) {
                toml.append("[runtimes.").append(runtime.getFileName()).append("]\npath = \"").append(runtime).append("\"\n");
            }
        }
        assumeTrue(toml.length() > 0, "neither runc nor crun is installed");
        // The runtime mounts the rootfs from inside the pod's user namespace: the path to the state dir
        // must let others pass, as /run/coracle does.
        dir = Files.createTempDirectory("coracle-it-", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwx--x--x")));
        bed = CriTestbed.start(dir, toml.toString());
        volume = Files.createTempDirectory("coracle-userns-rt-vol-");
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
        assertEquals(List.of(), processesInRange(HOST, HOST + 8 * LENGTH));
        if (dir != null) {
            String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
            assertFalse(mounts.contains(dir.toString()), mounts);
        }
    }

    static boolean installed(String handler) {
        return Files.isExecutable(handler.equals("runc") ? RUNC : CRUN);
    }

    static RuntimeHandler handler(String name) {
        return bed.runtime().status(StatusRequest.getDefaultInstance()).getRuntimeHandlersList().stream()
                .filter(h -> h.getName().equals(name)).findFirst().orElseThrow();
    }

    static UserNamespace podUserns(long host) {
        return UserNamespace.newBuilder().setMode(NamespaceMode.POD).addUids(map(0, host, LENGTH))
                .addGids(map(0, host, LENGTH)).build();
    }

    static PodSandboxConfig pod(String name, UserNamespace userns) {
        return bed.pod(name).setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext
                .newBuilder().setNamespaceOptions(NamespaceOption.newBuilder().setUsernsOptions(userns)))).build();
    }

    static String runPod(PodSandboxConfig pod, String handler) {
        return bed.runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).setRuntimeHandler(handler)
                .build()).getPodSandboxId();
    }

    static ContainerConfig.Builder inUserns(ContainerConfig.Builder c, UserNamespace userns) {
        return c.setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                .setNamespaceOptions(NamespaceOption.newBuilder().setUsernsOptions(userns))));
    }

    static long pid(String id) throws Exception {
        return new ObjectMapper().readTree(bed.runtime().containerStatus(ContainerStatusRequest.newBuilder()
                .setContainerId(id).setVerbose(true).build()).getInfoMap().get("info")).path("pid").asLong();
    }

    static ExecSyncResponse run(String id, String... cmd) throws Exception {
        bed.awaitStatus(id, st -> st.getState() != ContainerState.CONTAINER_CREATED, Duration.ofSeconds(10));
        return bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd))
                .setTimeout(10).build());
    }

    static String exec(String id, String... cmd) throws Exception {
        ExecSyncResponse r = run(id, cmd);
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toString(StandardCharsets.UTF_8);
    }

    static int pods() {
        return bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount();
    }

    /** The state dir's rootfs/ holds the runtimes' mount points only while a create runs. */
    static void noMountPointsLeft() throws Exception {
        Path base = dir.resolve("state").resolve("rootfs");
        if (Files.isDirectory(base)) {
            try (Stream<Path> s = Files.list(base)) {
                assertEquals(List.of(), s.toList());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "crun"})
    void aPodWithAUserNamespaceRunsOnTheHandlerOrIsRefusedWithItsProbesReason(String name) throws Exception {
        assumeTrue(installed(name), name + " is not installed");
        RuntimeHandler h = handler(name);
        long host = HOST + (name.equals("runc") ? 0 : 2 * LENGTH);
        UserNamespace userns = podUserns(host);
        if (name.equals("runc")) {
            // runc 1.1.5 joins a user namespace by path: its probe passes on this kernel.
            assertTrue(h.getFeatures().getUserNamespaces(), h.toString());
        }
        // The verbose Status says the same per handler, with the probe's reason when it failed.
        String security = bed.runtime().status(StatusRequest.newBuilder().setVerbose(true).build()).getInfoMap().get("security");
        String said = new ObjectMapper().readTree(security).path("userNamespaces").path(name).asText();
        assertEquals(h.getFeatures().getUserNamespaces(), said.equals("yes"), said);
        if (!h.getFeatures().getUserNamespaces()) {
            assertTrue(said.contains(name + " run of a container in a user namespace exited"), said);
            // As crun 1.8.1 on this hybrid cgroup layout: refused with what the probe saw, nothing made.
            int before = pods();
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> runPod(pod("userns-" + name, userns), name));
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getMessage());
            assertTrue(e.getStatus().getDescription().contains("the runtime handler '" + name
                    + "' does not run pods with user namespaces here: "), e.getStatus().getDescription());
            assertTrue(e.getStatus().getDescription().contains(name + " run of a container in a user namespace exited"),
                    e.getStatus().getDescription());
            assertEquals(before, pods());
            assertEquals(List.of(), processesInRange(host, host + LENGTH));
            return;
        }
        PodSandboxConfig pod = pod("userns-" + name, userns);
        String podId = runPod(pod, name);
        try {
            Mount vol = Mount.newBuilder().setHostPath(volume.toString()).setContainerPath("/data").build();
            // The same source twice (each copy is made from the host's view) and a single file.
            Mount again = Mount.newBuilder().setHostPath(volume.toString()).setContainerPath("/data2").setReadonly(true).build();
            Mount file = Mount.newBuilder().setHostPath(volume.resolve("from-host").toString())
                    .setContainerPath("/etc/from-host").build();
            String a = bed.createAndStart(podId, pod, inUserns(container("a", "sleep", "300"), userns)
                    .addMounts(vol).addMounts(again).addMounts(file));
            String b = bed.createAndStart(podId, pod, container("b", "sleep", "300"));
            noMountPointsLeft();
            assertEquals("uid=0(root) gid=0(root) groups=0(root)", exec(a, "id").strip());
            long pa = pid(a);
            // From the host: the container's root is an unprivileged uid, with the kubelet's map.
            assertEquals(String.valueOf(host), statusLine(pa, "Uid"));
            assertEquals(String.valueOf(host), statusLine(pa, "Gid"));
            assertEquals(List.of("0", String.valueOf(host), String.valueOf(LENGTH)),
                    List.of(Files.readString(Path.of("/proc/" + pa + "/uid_map")).strip().split("\\s+")));
            assertEquals(List.of("0", String.valueOf(host), String.valueOf(LENGTH)),
                    List.of(Files.readString(Path.of("/proc/" + pa + "/gid_map")).strip().split("\\s+")));
            // One user namespace for the pod (the pause's): both containers and an exec.
            assertEquals(nsInode(pa), nsInode(pid(b)));
            assertFalse(nsInode(pa).equals(nsInode(ProcessHandle.current().pid())));
            assertEquals(nsInode(pa), exec(b, "readlink", "/proc/self/ns/user").strip());
            // The image's files are root's inside, through the idmapped layers...
            assertEquals("0:0", exec(a, "stat", "-c", "%u:%g", "/bin/busybox", "/etc/passwd").lines().distinct()
                    .reduce((x, y) -> x + "," + y).orElseThrow());
            // ... and still root's on disk: no layer was chowned.
            try (Stream<Path> s = io.coracle.testing.DaemonProcess.filesOf(bed.daemon.dir()).stream()) {
                List<Path> layerBusybox = s.filter(p -> p.getFileName().toString().equals("busybox")
                        && p.getParent().getFileName().toString().equals("bin") && !p.toString().contains("/upper/")).toList();
                assertFalse(layerBusybox.isEmpty());
                for (Path p : layerBusybox) {
                    assertEquals(0, Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS), p.toString());
                }
            }
            // What root writes in its rootfs lands in the writable layer as the mapped uid.
            exec(a, "sh", "-c", "echo x > /made-by-root-" + name);
            Path made;
            try (Stream<Path> s = io.coracle.testing.DaemonProcess.filesOf(bed.daemon.dir()).stream()) {
                made = s.filter(p -> p.getFileName().toString().equals("made-by-root-" + name)).findFirst().orElseThrow();
            }
            assertEquals((int) host, Files.getAttribute(made, "unix:uid", LinkOption.NOFOLLOW_LINKS));
            // The hostPath volume is idmapped (as on Coracle's own shim and containerd 2.x with runc 1.2):
            // ids on disk are the ids inside, so the host's files are root's in there and a file root
            // makes is uid 0 on disk, a file chowned to 1000 is 1000.
            assertEquals("0:0 host file", exec(a, "sh", "-c", "echo $(stat -c %u:%g /data/from-host) $(cat /data/from-host)").strip());
            assertEquals("0:0 host file", exec(a, "sh", "-c", "echo $(stat -c %u:%g /data2/from-host) $(cat /data2/from-host)").strip());
            assertEquals("0:0 host file", exec(a, "sh", "-c", "echo $(stat -c %u:%g /etc/from-host) $(cat /etc/from-host)").strip());
            assertTrue(run(a, "sh", "-c", "echo x > /data2/denied").getExitCode() != 0, "/data2 is read-only");
            exec(a, "sh", "-c", "echo r > /data/by-root-" + name + " && echo u > /data/by-app-" + name
                    + " && chown 1000:1000 /data/by-app-" + name);
            assertEquals(0, Files.getAttribute(volume.resolve("by-root-" + name), "unix:uid", LinkOption.NOFOLLOW_LINKS));
            assertEquals(1000, Files.getAttribute(volume.resolve("by-app-" + name), "unix:uid", LinkOption.NOFOLLOW_LINKS));
            // proc and sysfs are the pod's namespaces': root may not write the host's kernel knobs.
            ExecSyncResponse r = run(a, "sh", "-c", "echo 1 > /proc/sys/kernel/panic");
            assertTrue(r.getExitCode() != 0, r.toString());
            assertTrue(exec(a, "ls", "/sys/class/net").contains("eth0"));
            // A restarted daemon (SIGKILL) finds the container still in the pod's namespace, and execs there.
            bed.crashAndRestartDaemon();
            assertEquals(nsInode(pa), exec(a, "readlink", "/proc/self/ns/user").strip());
            assertEquals("0", exec(a, "id", "-u").strip());
            noMountPointsLeft();
            // A container asking for other mappings than its pod's is refused.
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> bed.create(podId, pod, inUserns(container("other", "sleep", "300"), podUserns(host + LENGTH))));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
            assertTrue(e.getStatus().getDescription().contains("not the pod's"), e.getStatus().getDescription());
        } finally {
            bed.removePod(podId);
        }
        assertEquals(List.of(), processesInRange(host, host + LENGTH));
        noMountPointsLeft();
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "crun"})
    void hostileMappingsOnTheHandlerAreRefusedAndLeaveNothing(String name) throws Exception {
        assumeTrue(installed(name), name + " is not installed");
        long host = HOST + 4 * LENGTH;
        UserNamespace.Builder podMode = UserNamespace.newBuilder().setMode(NamespaceMode.POD);
        record Case(String what, UserNamespace userns, String why) {}
        List<Case> cases = List.of(
                new Case("host-root", podMode.clone().addUids(map(0, 0, LENGTH)).addGids(map(0, host, LENGTH)).build(),
                        "would make the pod's root the host's root"),
                new Case("empty", podMode.clone().addUids(map(0, host, 0)).addGids(map(0, host, LENGTH)).build(),
                        "uids[0].length: 0"),
                new Case("overflow", podMode.clone().addUids(map(0, 4294967295L - 100, LENGTH)).addGids(map(0, host, LENGTH))
                        .build(), "passes the highest id 4294967294"),
                new Case("two", podMode.clone().addUids(map(0, host, LENGTH)).addUids(map(LENGTH, host + LENGTH, LENGTH))
                        .addGids(map(0, host, LENGTH)).build(), "exactly one uid and one gid mapping"),
                new Case("target", UserNamespace.newBuilder().setMode(NamespaceMode.TARGET).build(), "TARGET is not supported"),
                new Case("node-maps", UserNamespace.newBuilder().setMode(NamespaceMode.NODE).addUids(map(0, host, LENGTH))
                        .addGids(map(0, host, LENGTH)).build(), "a node user namespace takes no mappings"));
        for (Case c : cases) {
            int before = pods();
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> runPod(pod(c.what() + "-" + name, c.userns()), name), c.what());
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), c.what() + ": " + e.getMessage());
            assertTrue(e.getStatus().getDescription().contains(c.why()), c.what() + ": " + e.getStatus().getDescription());
            assertEquals(before, pods(), c.what());
        }
        assertEquals(List.of(), processesInRange(host, host + LENGTH));
        noMountPointsLeft();
    }

    /**
     * The idmapped copies lie over their sources in the shim's own mount namespace only: a
     * Bidirectional volume (rshared, which would carry them to the host) is refused and leaves nothing;
     * a HostToContainer one (rslave) and a hostPath that is a symlink to the volume run, and the host's
     * mount table never shows the volume or the link.
     */
    @org.junit.jupiter.api.Test
    void theIdmappedCopiesNeverReachTheHostsMountTable() throws Exception {
        assumeTrue(installed("runc"), "runc is not installed");
        assumeTrue(handler("runc").getFeatures().getUserNamespaces(), "runc runs no user-namespaced pod here");
        long host = HOST + 6 * LENGTH;
        UserNamespace userns = podUserns(host);
        Path links = Files.createTempDirectory("coracle-userns-rt-link-");
        Path link = Files.createSymbolicLink(links.resolve("link"), volume);
        PodSandboxConfig pod = pod("userns-propagation", userns);
        String podId = runPod(pod, "runc");
        try {
            Mount bidirectional = Mount.newBuilder().setHostPath(volume.toString()).setContainerPath("/data")
                    .setPropagation(io.coracle.cri.v1.MountPropagation.PROPAGATION_BIDIRECTIONAL).build();
            int before = bed.runtime().listContainers(io.coracle.cri.v1.ListContainersRequest.getDefaultInstance())
                    .getContainersCount();
            // runc refuses it when it creates the container: at StartContainer, which leaves it exited (StartError).
            String bidi = bed.create(podId, pod, inUserns(container("bidi", "sleep", "300"), userns).addMounts(bidirectional));
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runtime().startContainer(
                    io.coracle.cri.v1.StartContainerRequest.newBuilder().setContainerId(bidi).build()));
            System.out.println("RuntimeHandlerUserNamespaceIT: Bidirectional volume -> " + e.getStatus());
            assertEquals("StartError", bed.status(bidi).getReason());
            noMountPointsLeft();
            assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(volume.toString()), "no copy on the host");
            bed.runtime().removeContainer(io.coracle.cri.v1.RemoveContainerRequest.newBuilder().setContainerId(bidi).build());
            assertEquals(before, bed.runtime().listContainers(io.coracle.cri.v1.ListContainersRequest.getDefaultInstance())
                    .getContainersCount(), "the refused container is removed");

            Mount slave = Mount.newBuilder().setHostPath(volume.toString()).setContainerPath("/data")
                    .setPropagation(io.coracle.cri.v1.MountPropagation.PROPAGATION_HOST_TO_CONTAINER).build();
            Mount viaLink = Mount.newBuilder().setHostPath(link.toString()).setContainerPath("/linked").build();
            String id = bed.createAndStart(podId, pod, inUserns(container("rslave", "sleep", "300"), userns)
                    .addMounts(slave).addMounts(viaLink));
            assertEquals("host file", run(id, "cat", "/data/from-host").getStdout().toStringUtf8().trim());
            assertEquals("host file", run(id, "cat", "/linked/from-host").getStdout().toStringUtf8().trim());
            String mountinfo = Files.readString(Path.of("/proc/self/mountinfo"));
            assertFalse(mountinfo.contains(volume.toString()) || mountinfo.contains(links.toString()), mountinfo);
            assertTrue(Files.isSymbolicLink(link), "the link is left as it was");
        } finally {
            bed.removePod(podId);
            Files.delete(link);
            Files.delete(links);
        }
        assertEquals(List.of(), processesInRange(host, host + LENGTH));
        noMountPointsLeft();
    }
}
