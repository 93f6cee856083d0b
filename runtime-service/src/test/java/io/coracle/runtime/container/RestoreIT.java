package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.CheckpointContainerRequest;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.runtime.checkpoint.CriuSupport;
import io.coracle.testing.CriTestbed;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Restore of a checkpoint archive into a new container (CreateContainer with the archive's path as
 * its image, CRI-O's way) through the real daemon. With a CRIU that works on this kernel
 * (CORACLE_TEST_CRIU=/path/to/criu, else the installed one if its `criu check` passes): a busybox
 * counter is checkpointed, restored into a new pod, and goes on counting from where it was, with its
 * rootfs changes and deletions. On any host: hostile archives (rootfs diffs writing outside, through
 * symlinks, device nodes; bad deleted.files; oversized or malformed config.dump) are INVALID_ARGUMENT
 * and leave the host and the daemon's state unchanged.
 */
class RestoreIT {
    static CriTestbed bed;
    static Path dir;
    static Path checkpoints;
    static Path outside;
    static CriuSupport criu;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("coracle-restore-it-");
        checkpoints = Files.createDirectories(dir.resolve("checkpoints"));
        outside = Files.createDirectories(dir.resolve("outside"));
        String wanted = System.getenv("CORACLE_TEST_CRIU");
        Path criuPath = wanted == null || wanted.isEmpty() ? null : Path.of(wanted);
        criu = CriuSupport.probe(criuPath);
        bed = CriTestbed.start(dir.resolve("bed"), "[checkpoint]\ndir = \"" + checkpoints + "\"\n"
                + (criuPath == null ? "" : "criu = \"" + criuPath + "\"\n"));
        System.out.println("RestoreIT: " + criu.describe());
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (bed != null) {
                bed.close();
            }
        } finally {
            if (System.getenv("CORACLE_TEST_KEEP") == null) {
                io.coracle.sys.AtFiles.deleteTree(dir);
            }
        }
    }

    private static ExecSyncResponse exec(String id, String... cmd) {
        return bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd))
                .setTimeout(10).build());
    }

    private static int counter(String id) {
        String out = exec(id, "cat", "/tmp/counter").getStdout().toStringUtf8().trim();
        return out.isEmpty() ? 0 : Integer.parseInt(out);
    }

    private static int awaitCounterAbove(String id, int floor) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        int c;
        while ((c = counter(id)) <= floor) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("container " + id + " never counted past " + floor + " (at " + c + ")");
            }
            Thread.sleep(50);
        }
        return c;
    }

    private static List<Integer> counts(Path log) throws Exception {
        List<Integer> out = new ArrayList<>();
        Matcher m = Pattern.compile(" stdout F count (\\d+)").matcher(Files.readString(log));
        while (m.find()) {
            out.add(Integer.parseInt(m.group(1)));
        }
        return out;
    }

    @Test
    void aRestoredCounterGoesOnFromWhereItWasCheckpointed() throws Exception {
        restoreCounter(io.coracle.cri.v1.NamespaceMode.POD);
    }

    /** As the kubelet makes containers: each its own PID namespace, restored as a new one. */
    @Test
    void aRestoredCounterWithItsOwnPidNamespaceGoesOn() throws Exception {
        restoreCounter(io.coracle.cri.v1.NamespaceMode.CONTAINER);
    }

    private static io.coracle.cri.v1.ContainerConfig.Builder inPidMode(io.coracle.cri.v1.ContainerConfig.Builder c,
                                                                       io.coracle.cri.v1.NamespaceMode pid) {
        return c.setLinux(io.coracle.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(
                io.coracle.cri.v1.LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(
                        io.coracle.cri.v1.NamespaceOption.newBuilder().setPid(pid))));
    }

    private void restoreCounter(io.coracle.cri.v1.NamespaceMode pid) throws Exception {
        if (!criu.usable()) {
            System.out.println("RestoreIT: SKIPPED the end-to-end restore: no CRIU that works on this kernel ("
                    + criu.describe() + "); set CORACLE_TEST_CRIU to a CRIU >= 4.1");
        }
        Assumptions.assumeTrue(criu.usable(), "no working CRIU here (" + criu.describe() + "): set CORACLE_TEST_CRIU");
        PodSandboxConfig podA = bed.pod("ckpt-src").build();
        String a = bed.runPod(podA);
        String source = bed.createAndStart(a, podA, inPidMode(container("counter", "sh", "-c",
                "echo kept > /kept.txt; rm /etc/group; i=0; while true; do i=$((i+1)); echo $i > /tmp/counter.new;"
                        + " mv /tmp/counter.new /tmp/counter; echo count $i; sleep 0.1; done"), pid));
        awaitCounterAbove(source, 5);
        Path archive = checkpoints.resolve("counter-" + pid + ".tar");
        // Read before the dump: the dumped counter is at least this (the source goes on counting after it).
        int atCheckpoint = counter(source);
        bed.runtime().checkpointContainer(CheckpointContainerRequest.newBuilder().setContainerId(source)
                .setLocation(archive.toString()).setTimeout(60).build());
        // The source is gone before the restore: the restored counter can only come from the archive.
        bed.removePod(a);

        PodSandboxConfig podB = bed.pod("ckpt-dst").build();
        String b = bed.runPod(podB);
        String restored = bed.create(b, podB, inPidMode(container("restored", "sh", "-c", "echo never run; exit 3")
                .setImage(ImageSpec.newBuilder().setImage(archive.toString())), pid));
        assertEquals(ContainerState.CONTAINER_CREATED, bed.status(restored).getState());
        try {
            bed.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(restored).build());
        } catch (StatusRuntimeException e) {
            Path log = bed.daemon.dir().resolve("root/containers").resolve(restored).resolve("restore/restore.log");
            if (Files.exists(log)) {
                List<String> lines = Files.readAllLines(log);
                System.out.println("RestoreIT: CRIU's restore.log (last lines):\n"
                        + String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size())));
            }
            throw e;
        }
        var status = bed.status(restored);
        assertEquals(ContainerState.CONTAINER_RUNNING, status.getState(), status.toString());

        int first = awaitCounterAbove(restored, 0);
        assertTrue(first >= atCheckpoint, "the restored counter (" + first + ") goes on from the checkpoint's ("
                + atCheckpoint + "), not from 1");
        int later = awaitCounterAbove(restored, first + 2);
        assertTrue(later > first, "it keeps counting");
        assertEquals("kept", exec(restored, "cat", "/kept.txt").getStdout().toStringUtf8().trim(),
                "a file written before the checkpoint is in the restored rootfs");
        assertNotEquals(0, exec(restored, "cat", "/etc/group").getExitCode(), "a deleted file stays deleted");
        assertEquals(0, exec(restored, "cat", "/etc/passwd").getExitCode(), "the image's other files are there");
        // The restored process is in the new pod's network namespace (as a container made there is), not the host's.
        String sibling = bed.createAndStart(b, podB, container("sibling", "sleep", "300"));
        String netns = exec(restored, "readlink", "/proc/self/ns/net").getStdout().toStringUtf8().trim();
        assertEquals(exec(sibling, "readlink", "/proc/self/ns/net").getStdout().toStringUtf8().trim(), netns);
        assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString(), netns);
        assertEquals("refused", exec(restored, "sh", "-c", "mknod /tmp/mem c 1 1 2>/dev/null; head -c 1 /tmp/mem"
                + " >/dev/null 2>&1 || echo refused").getStdout().toStringUtf8().trim(),
                "the container's device rules hold for the restored process");

        // Its output goes on into the new container's log, counting on from the checkpoint.
        Path log = Path.of(podB.getLogDirectory(), "restored.log");
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (counts(log).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        List<Integer> logged = counts(log);
        assertFalse(logged.isEmpty(), "the restored process writes into the new log");
        assertTrue(logged.get(0) > atCheckpoint, "the new log starts at " + logged.get(0) + ", after the checkpoint's "
                + atCheckpoint);
        assertFalse(Files.readString(log).contains("never run"), "the new config's command never ran");
        System.out.println("RestoreIT (pid namespace " + pid + "): checkpointed at " + atCheckpoint + ", restored counter read " + first
                + " then " + later + "; new log begins with count " + logged.get(0));

        bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(restored).setTimeout(5).build());
        var stopped = bed.status(restored);
        assertEquals(ContainerState.CONTAINER_EXITED, stopped.getState());
        assertTrue(stopped.getExitCode() == 143 || stopped.getExitCode() == 137, stopped.toString());
        String leaf = restored;
        bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(restored).build());
        bed.removePod(b);
        assertNothingLeftOf(leaf);
    }

    /**
     * CRIU gives the restored tasks the capabilities and no_new_privs of the checkpoint's images, not of
     * the new spec: an archive of a process holding more than the new container allows is refused at
     * start, before any of its tasks runs (criu leaves them stopped; the shim checks every one, then
     * kills them all), and nothing of it is left.
     */
    @Test
    void aRestoredProcessNeverHoldsMoreThanTheNewSpecAllows() throws Exception {
        Assumptions.assumeTrue(criu.usable(), "no working CRIU here (" + criu.describe() + "): set CORACLE_TEST_CRIU");
        PodSandboxConfig podA = bed.pod("ckpt-caps-src").build();
        String a = bed.runPod(podA);
        String source = bed.createAndStart(a, podA, container("default-caps", "sh", "-c",
                "while true; do sleep 0.1; done"));
        Path archive = checkpoints.resolve("caps.tar");
        bed.runtime().checkpointContainer(CheckpointContainerRequest.newBuilder().setContainerId(source)
                .setLocation(archive.toString()).setTimeout(60).build());
        bed.removePod(a);

        PodSandboxConfig podB = bed.pod("ckpt-caps-dst").build();
        String b = bed.runPod(podB);
        Map<String, io.coracle.cri.v1.LinuxContainerSecurityContext.Builder> variants = new LinkedHashMap<>();
        variants.put("bounding set", io.coracle.cri.v1.LinuxContainerSecurityContext.newBuilder()
                .setCapabilities(io.coracle.cri.v1.Capability.newBuilder().addDropCapabilities("ALL")));
        variants.put("no_new_privs", io.coracle.cri.v1.LinuxContainerSecurityContext.newBuilder().setNoNewPrivs(true));
        for (var v : variants.entrySet()) {
            String restored = bed.create(b, podB, container("restored-" + v.getKey().replace(' ', '-'), "sh")
                    .setImage(ImageSpec.newBuilder().setImage(archive.toString()))
                    .setLinux(io.coracle.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(v.getValue())));
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runtime().startContainer(
                    StartContainerRequest.newBuilder().setContainerId(restored).build()), v.getKey());
            assertTrue(e.getStatus().getDescription().contains(v.getKey()), e.getStatus().toString());
            System.out.println("RestoreIT: restore beyond the new spec's " + v.getKey() + " -> " + e.getStatus());
            var status = bed.status(restored);
            assertNotEquals(ContainerState.CONTAINER_RUNNING, status.getState(), status.toString());
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(restored).build());
            assertNothingLeftOf(restored); // its cgroup removed: no restored task is left
        }
        bed.removePod(b);
        Files.delete(archive);
    }

    /**
     * RemoveContainer while StartContainer's criu restore runs: the remove succeeds, the start answers
     * OK, NOT_FOUND or FAILED_PRECONDITION (never INTERNAL), and nothing of criu or the restored tasks is left.
     */
    @Test
    void aRemoveRacingTheRestoreLeavesNothing() throws Exception {
        Assumptions.assumeTrue(criu.usable(), "no working CRIU here (" + criu.describe() + "): set CORACLE_TEST_CRIU");
        PodSandboxConfig podA = bed.pod("ckpt-race-src").build();
        String a = bed.runPod(podA);
        String source = bed.createAndStart(a, podA, container("sleeper", "sh", "-c", "while true; do sleep 0.1; done"));
        Path archive = checkpoints.resolve("race.tar");
        bed.runtime().checkpointContainer(CheckpointContainerRequest.newBuilder().setContainerId(source)
                .setLocation(archive.toString()).setTimeout(60).build());
        bed.removePod(a);
        PodSandboxConfig podB = bed.pod("ckpt-race-dst").build();
        String b = bed.runPod(podB);
        for (int delayMs : new int[] {0, 2, 5, 10, 15, 20, 30, 40, 50, 80, 0, 5, 10, 20, 30}) {
            String restored = bed.create(b, podB, container("raced-" + delayMs, "sh")
                    .setImage(ImageSpec.newBuilder().setImage(archive.toString())));
            var start = java.util.concurrent.CompletableFuture.runAsync(() -> bed.runtime().startContainer(
                    StartContainerRequest.newBuilder().setContainerId(restored).build()));
            Thread.sleep(delayMs);
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(restored).build());
            try {
                start.get(60, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                StatusRuntimeException s = (StatusRuntimeException) e.getCause();
                System.out.println("RestoreIT: start raced by remove after " + delayMs + " ms -> " + s.getStatus());
                // Removed before (NOT_FOUND), or killed by the remove before criu ran (FAILED_PRECONDITION).
                assertTrue(s.getStatus().getCode() == Status.Code.NOT_FOUND
                        || s.getStatus().getCode() == Status.Code.FAILED_PRECONDITION, delayMs + " ms: " + s.getStatus());
            }
            assertNothingLeftOf(restored);
        }
        bed.removePod(b);
        Files.delete(archive);
    }

    private static void assertNothingLeftOf(String id) throws Exception {
        assertFalse(Files.readString(Path.of("/proc/self/mounts")).contains(id.substring(0, 16)), "no mount left");
        try (var s = Files.walk(Path.of("/sys/fs/cgroup"), 6)) {
            assertEquals(List.of(), s.filter(p -> p.getFileName() != null && p.getFileName().toString().contains(id))
                    .toList(), "no cgroup left");
        }
    }

    /** An archive as another node would send it: config.dump, spec.dump, a CRIU image, and what else is given. */
    private static Path archive(String name, Map<String, byte[]> extra) throws Exception {
        Map<String, byte[]> members = new LinkedHashMap<>();
        members.put("config.dump", ("{\"id\":\"abc\",\"name\":\"counter\",\"rootfsImageName\":\"" + CriTestbed.BUSYBOX
                + "\",\"rootfsImageRef\":\"\"}").getBytes(StandardCharsets.UTF_8));
        members.put("spec.dump", "{\"ociVersion\":\"1.0.2\"}".getBytes(StandardCharsets.UTF_8));
        members.put("checkpoint/inventory.img", new byte[] {1, 2, 3});
        members.putAll(extra);
        Path at = checkpoints.resolve(name);
        try (var out = Files.newOutputStream(at); var tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (var m : members.entrySet()) {
                TarArchiveEntry e = new TarArchiveEntry(m.getKey());
                e.setSize(m.getValue().length);
                tar.putArchiveEntry(e);
                tar.write(m.getValue());
                tar.closeArchiveEntry();
            }
        }
        return at;
    }

    /** A rootfs-diff.tar of the given entries. */
    private static byte[] diff(TarArchiveEntry... entries) throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (var tar = new TarArchiveOutputStream(b)) {
            for (TarArchiveEntry e : entries) {
                byte[] data = e.isFile() && !e.isCharacterDevice() && !e.isBlockDevice()
                        ? "pwned\n".getBytes(StandardCharsets.UTF_8) : new byte[0];
                if (data.length > 0) {
                    e.setSize(data.length);
                }
                tar.putArchiveEntry(e);
                tar.write(data);
                tar.closeArchiveEntry();
            }
        }
        return b.toByteArray();
    }

    private static TarArchiveEntry file(String name) {
        return new TarArchiveEntry(name, true);
    }

    private static TarArchiveEntry symlink(String name, String target) {
        TarArchiveEntry e = new TarArchiveEntry(name, TarArchiveEntry.LF_SYMLINK, true);
        e.setLinkName(target);
        return e;
    }

    private static TarArchiveEntry device(String name, byte type, int major, int minor) {
        TarArchiveEntry e = new TarArchiveEntry(name, type, true);
        e.setDevMajor(major);
        e.setDevMinor(minor);
        return e;
    }

    private static StatusRuntimeException restoreFails(String podId, PodSandboxConfig pod, Path archive) {
        return assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod, container("restored", "sh")
                .setImage(ImageSpec.newBuilder().setImage(archive.toString()))), archive.toString());
    }

    @Test
    void hostileArchivesAreRefusedAndTheHostIsUnchanged() throws Exception {
        PodSandboxConfig pod = bed.pod("hostile").build();
        String podId = bed.runPod(pod);
        String passwd = Files.readString(Path.of("/etc/passwd"));
        Map<String, Map<String, byte[]>> cases = new LinkedHashMap<>();
        byte[] big = new byte[(4 << 20) + 1];
        java.util.Arrays.fill(big, (byte) ' ');
        cases.put("dotdot", Map.of("rootfs-diff.tar", diff(file("../../../outside/dotdot"))));
        cases.put("absolute", Map.of("rootfs-diff.tar", diff(file(outside.resolve("absolute").toString()))));
        cases.put("symlink-write-through", Map.of("rootfs-diff.tar", diff(symlink("evil", outside.toString()),
                file("evil/through"))));
        cases.put("symlink-dotdot-write-through", Map.of("rootfs-diff.tar", diff(symlink("up", "../../../../../../.."),
                file("up" + outside.resolve("through2")))));
        cases.put("char-device", Map.of("rootfs-diff.tar", diff(device("dev/mem", TarArchiveEntry.LF_CHR, 1, 1))));
        cases.put("block-device", Map.of("rootfs-diff.tar", diff(device("disk", TarArchiveEntry.LF_BLK, 8, 0))));
        cases.put("hardlink-to-host", Map.of("rootfs-diff.tar", diff(hardlink("pw", "/etc/passwd"))));
        cases.put("not-a-tar-diff", Map.of("rootfs-diff.tar", "garbage!".repeat(128).getBytes(StandardCharsets.UTF_8)));
        cases.put("deleted-dotdot", Map.of("deleted.files", ("[\"/../../../outside/victim\"]").getBytes(StandardCharsets.UTF_8)));
        cases.put("deleted-through-symlink", Map.of("rootfs-diff.tar", diff(symlink("link", outside.toString())),
                "deleted.files", "[\"/link/victim\"]".getBytes(StandardCharsets.UTF_8)));
        cases.put("deleted-not-a-list", Map.of("deleted.files", "{\"a\":1}".getBytes(StandardCharsets.UTF_8)));
        cases.put("image-name-with-slash", Map.of("checkpoint/../../outside/img", new byte[] {1}));
        cases.put("config-oversized", Map.of("config.dump", big));
        cases.put("config-malformed", Map.of("config.dump", "{\"rootfsImageName\":".getBytes(StandardCharsets.UTF_8)));
        cases.put("spec-malformed", Map.of("spec.dump", "[[[".getBytes(StandardCharsets.UTF_8)));
        Files.writeString(outside.resolve("victim"), "keep");
        int before = bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount();
        for (var c : cases.entrySet()) {
            Path archive = archive(c.getKey() + ".tar", c.getValue());
            StatusRuntimeException e = restoreFails(podId, pod, archive);
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), c.getKey() + ": " + e.getStatus());
            System.out.println("RestoreIT: " + c.getKey() + " -> " + e.getStatus().getCode() + ": "
                    + e.getStatus().getDescription());
            Files.delete(archive);
        }
        try (var s = Files.list(outside)) {
            assertEquals(List.of(outside.resolve("victim")), s.toList(), "nothing written outside");
        }
        assertEquals("keep", Files.readString(outside.resolve("victim")));
        assertEquals(passwd, Files.readString(Path.of("/etc/passwd")));
        assertEquals(before, bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
        try (var s = Files.list(bed.daemon.dir().resolve("root").resolve("containers"))) {
            assertEquals(List.of(), s.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).toList(),
                    "every container begun for a refused archive is undone");
        }
        bed.removePod(podId);
    }

    private static TarArchiveEntry hardlink(String name, String target) {
        TarArchiveEntry e = new TarArchiveEntry(name, TarArchiveEntry.LF_LINK, true);
        e.setLinkName(target);
        return e;
    }

    @Test
    void aWellFormedArchiveWithoutAWorkingCriuAnswersCriusReason() throws Exception {
        Assumptions.assumeFalse(criu.usable(), "CRIU works here: the end-to-end test covers the restore");
        PodSandboxConfig pod = bed.pod("nocriu").build();
        String podId = bed.runPod(pod);
        Path archive = archive("fine.tar", Map.of("rootfs-diff.tar", diff(file("hello"))));
        StatusRuntimeException e = restoreFails(podId, pod, archive);
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains(criu.reason().split("; ")[0]), e.getStatus().getDescription());
        System.out.println("RestoreIT: restore without a working CRIU answered " + e.getStatus());
        Files.delete(archive);
        bed.removePod(podId);
    }
}
