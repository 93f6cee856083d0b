package io.coracle.runtime.daemon;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.Int64Value;
import io.coracle.cri.v1.KeyValue;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ImageBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The daemon's root and state directories are private: a host user other than root lists, reads and
 * executes nothing under them (a container's env with its Secrets, a layer's setuid binary), while a
 * non-root container still reads its image, its pod files and its volumes. A daemon started on an
 * install that left them open closes them.
 */
class PrivateStateIT {
    static final String SUID_IMAGE = "docker.io/library/suid:1";
    static CriTestbed bed;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start();
        // The testbed's temp dir is 0700 itself: open it, so that only Coracle's own modes stand in the way.
        Files.setPosixFilePermissions(bed.daemon.dir(), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(bed.logs, PosixFilePermissions.fromString("rwxr-xr-x"));
        // A layer with a setuid-root program: as a host user, running it from the snapshot would make one root.
        ImageBuilder.busybox().hostProgram("/usr/bin/id", "usr/bin/suid-id")
                .file("usr/bin/suid-id", 04755, Files.readAllBytes(Path.of("/usr/bin/id")))
                .push(bed.registry, "library/suid", "1");
        bed.daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(SUID_IMAGE)).build());
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    static Path root() {
        return bed.daemon.dir().resolve("root");
    }

    static Path state() {
        return bed.daemon.dir().resolve("state");
    }

    /**
     * Runs {@code cmd} on the host as nobody (uid and gid 65534, no supplementary groups), exec'd by a
     * shell already running as nobody, as a host user's would be (setpriv's own exec of its program is
     * not: it ran a setuid program from a 0700 directory here); returns exit code and output.
     */
    static Result asNobody(String... cmd) throws Exception {
        List<String> all = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                "/bin/sh", "-c", "exec \"$0\" \"$@\""));
        all.addAll(List.of(cmd));
        Process p = new ProcessBuilder(all).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.waitFor(), out);
    }

    record Result(int code, String output) {
    }

    static void denied(String... cmd) throws Exception {
        Result r = asNobody(cmd);
        assertNotEquals(0, r.code(), "nobody ran " + List.of(cmd) + ": " + r.output());
        assertTrue(r.output().contains("Permission denied"), List.of(cmd) + ": " + r.output());
    }

    static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    static ExecSyncResponse exec(String id, String... cmd) {
        return bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd))
                .setTimeout(20).build());
    }

    /** The snapshot holding the setuid program (found as root). */
    static Path suidProgram() throws Exception {
        try (Stream<Path> s = Files.list(root().resolve("snapshots"))) {
            return s.map(p -> p.resolve("usr/bin/suid-id")).filter(Files::isRegularFile).findFirst().orElseThrow();
        }
    }

    @Test
    void noHostUserReachesTheStateAndANonRootContainerStillWorks() throws Exception {
        Path volume = Files.createDirectories(bed.daemon.dir().resolve("volume"));
        Files.setPosixFilePermissions(volume, PosixFilePermissions.fromString("rwxrwxrwx"));
        PodSandboxConfig pod = bed.pod("private").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("app", "sh", "-c", "echo started; exec sleep 300")
                    .setImage(ImageSpec.newBuilder().setImage(SUID_IMAGE))
                    .addEnvs(KeyValue.newBuilder().setKey("DB_PASSWORD").setValue(com.google.protobuf.ByteString.copyFromUtf8("hunter2")))
                    .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(volume.toString()))
                    .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext
                            .newBuilder().setRunAsUser(Int64Value.newBuilder().setValue(1234)))));
            Path bundle = root().resolve("containers").resolve(id).resolve("bundle");
            assertTrue(Files.readString(bundle.resolve("config.json")).contains("hunter2"), "the env is in config.json");
            Path suid = suidProgram();
            assertEquals(04755, (int) Files.getAttribute(suid, "unix:mode") & 07777, "the layer's program is setuid");
            assertEquals(0, (int) Files.getAttribute(suid, "unix:uid"));

            assertHostUsersLockedOut(podId, id, suid);
            assertContainerWorksAsNonRoot(id, pod);

            // An install that left everything open (as older versions did) is closed at the next start.
            bed.daemon.kill9();
            List<Path> dirs = List.of(root(), state(), root().resolve("containers"), root().resolve("containers").resolve(id),
                    bundle, root().resolve("snapshots"), root().resolve("sandboxes"), root().resolve("images"),
                    root().resolve("blobs"), state().resolve("pods"), state().resolve("ctr"));
            for (Path d : dirs) {
                Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            Path record;
            try (Stream<Path> s = Files.list(root().resolve("images"))) {
                record = s.filter(p -> p.toString().endsWith(".json")).findFirst().orElseThrow();
            }
            Path sandboxRecord = root().resolve("sandboxes").resolve(podId).resolve("sandbox.json");
            List<Path> files = List.of(bundle.resolve("config.json"), bundle.getParent().resolve("meta.json"), record,
                    sandboxRecord);
            for (Path f : files) {
                Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
            }
            Result open = asNobody("cat", bundle.resolve("config.json").toString());
            assertEquals(0, open.code(), "the open install really was open: " + open.output());
            assertTrue(open.output().contains("hunter2"));

            bed.daemon = bed.daemon.relaunch();
            bed.daemon.awaitServing(Duration.ofSeconds(30));
            for (Path d : dirs) {
                assertEquals("rwx------", mode(d), d.toString());
            }
            for (Path f : files) {
                assertEquals("rw-------", mode(f), f.toString());
            }
            assertHostUsersLockedOut(podId, id, suid);
            assertContainerWorksAsNonRoot(id, pod);
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void aStateDirHoldingTheSocketIsPassableButNeverListable() throws Exception {
        // As /run/coracle holds /run/coracle/coracle.sock by default; this state dir was left 0755.
        Path dir = Files.createTempDirectory("coracle-it-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path state = Files.createDirectories(dir.resolve("state"));
        Files.setPosixFilePermissions(state, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path socket = state.resolve("coracle.sock");
        try (var daemon = io.coracle.testing.DaemonProcess.launchWith(dir, "", "--socket", socket.toString())) {
            daemon.awaitServing(Duration.ofSeconds(30));
            assertEquals("rwx--x--x", mode(state));
            assertEquals("rw-rw----", mode(socket), "the socket's own mode decides who connects");
            assertEquals("rwx------", mode(dir.resolve("root")));
            assertEquals("rwx------", mode(state.resolve("pods")));
            assertEquals("rwx------", mode(state.resolve("ctr")));
            assertEquals(new Result(0, ""), asNobody("test", "-S", socket.toString()), "nobody passes to the socket");
            denied("ls", state.toString());
            denied("ls", state.resolve("pods").toString());
            denied("ls", state.resolve("ctr").toString());
            denied("ls", dir.resolve("root").toString());
        }
    }

    private static void assertHostUsersLockedOut(String podId, String id, Path suid) throws Exception {
        // The probe itself works: nobody reads a world-readable file next to the daemon's dirs.
        Path probe = Files.writeString(bed.daemon.dir().resolve("probe"), "readable\n");
        Files.setPosixFilePermissions(probe, PosixFilePermissions.fromString("rw-r--r--"));
        assertEquals(new Result(0, "readable\n"), asNobody("cat", probe.toString()));

        assertEquals("rwx------", mode(root()));
        assertEquals("rwx------", mode(state()), "the socket lives elsewhere here: the state dir is closed");
        assertEquals("rw-------", mode(root().resolve("containers").resolve(id).resolve("bundle/config.json")));
        assertEquals("rw-------", mode(root().resolve("containers").resolve(id).resolve("meta.json")));
        assertEquals("rw-------", mode(root().resolve("sandboxes").resolve(podId).resolve("sandbox.json")));
        assertEquals("rwx------", mode(state().resolve("pods")));
        assertEquals("rwx------", mode(state().resolve("ctr")));

        denied("ls", root().toString());
        denied("ls", state().toString());
        denied("ls", root().resolve("snapshots").toString());
        denied("cat", root().resolve("containers").resolve(id).resolve("bundle/config.json").toString());
        denied("cat", root().resolve("sandboxes").resolve(podId).resolve("sandbox.json").toString());
        denied("cat", suid.getParent().getParent().getParent().resolve("etc/passwd").toString());
        denied(suid.toString(), "-u");
        denied("ls", state().resolve("pods").toString());
        denied("cat", state().resolve("pods").resolve(podId).resolve("resolv.conf").toString());
        denied("ls", state().resolve("ctr").toString());
        denied("ls", root().resolve("containers").resolve(id).resolve("upper").toString());
    }

    private static void assertContainerWorksAsNonRoot(String id, PodSandboxConfig pod) throws Exception {
        assertEquals("1234\n", exec(id, "id", "-u").getStdout().toStringUtf8());
        for (String[] cmd : List.of(
                new String[] {"cat", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/etc/passwd"},
                new String[] {"ls", "/", "/bin/busybox", "/usr/bin/suid-id"},
                new String[] {"sh", "-c", "echo shm > /dev/shm/f && cat /dev/shm/f"},
                new String[] {"sh", "-c", "echo tmp > /tmp/f-$$ && cat /tmp/f-$$"},
                new String[] {"sh", "-c", "echo vol > /data/f-$$ && cat /data/f-$$"})) {
            ExecSyncResponse r = exec(id, cmd);
            assertEquals(0, r.getExitCode(), List.of(cmd) + ": " + r.getStdout().toStringUtf8() + r.getStderr().toStringUtf8());
        }
        assertEquals("private\n", exec(id, "cat", "/etc/hostname").getStdout().toStringUtf8());
        ContainerStatus s = bed.status(id);
        assertTrue(Files.readString(Path.of(s.getLogPath())).contains("stdout F started"), "the container's log is written");
    }
}
