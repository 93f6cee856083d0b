package io.coracle.runtime.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.CriError;
import io.coracle.sys.AtFiles;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The archive's layout and the rootfs diff, from a real upperdir (files, a symlink to a host file, an
 * overlay whiteout) and a stand-in for CRIU's images: what CheckpointContainer writes once CRIU has
 * dumped. And the location rules an attacker would probe.
 */
class CheckpointArchiveTest {
    @TempDir
    Path tmp;

    record Member(TarArchiveEntry entry, byte[] data) {}

    static Map<String, Member> read(InputStream in) throws Exception {
        Map<String, Member> out = new LinkedHashMap<>();
        try (TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                out.put(e.getName(), new Member(e, tar.readAllBytes()));
            }
        }
        return out;
    }

    private Path upperdir() throws Exception {
        Path upper = Files.createDirectories(tmp.resolve("upper"));
        Files.createDirectories(upper.resolve("tmp"));
        Files.writeString(upper.resolve("tmp/counter"), "42\n");
        Files.createSymbolicLink(upper.resolve("tmp/passwd"), Path.of("/etc/passwd"));
        Files.createDirectories(upper.resolve("etc"));
        Process p = new ProcessBuilder("mknod", upper.resolve("etc/motd").toString(), "c", "0", "0").start();
        assertEquals(0, p.waitFor());
        return upper;
    }

    @Test
    void rootfsDiffCarriesChangesAndListsDeletions() throws Exception {
        Path upper = upperdir();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int fd = AtFiles.openDirectory(upper, AtFiles.O_RDONLY);
        List<String> deleted;
        try {
            deleted = RootfsDiff.write(fd, out);
        } finally {
            AtFiles.close(fd);
        }
        assertEquals(List.of("/etc/motd"), deleted);
        Map<String, Member> m = read(new ByteArrayInputStream(out.toByteArray()));
        assertEquals(List.of("etc/", "tmp/", "tmp/counter", "tmp/passwd"), List.copyOf(m.keySet()));
        assertEquals("42\n", new String(m.get("tmp/counter").data(), StandardCharsets.UTF_8));
        // The container's symlink is archived as a symlink: the host's /etc/passwd is not read into it.
        assertTrue(m.get("tmp/passwd").entry().isSymbolicLink());
        assertEquals("/etc/passwd", m.get("tmp/passwd").entry().getLinkName());
        assertEquals(0, m.get("tmp/passwd").data().length);
    }

    @Test
    void archiveHasTheKubeletsLayout() throws Exception {
        Path upper = upperdir();
        Path images = Files.createDirectories(tmp.resolve("work/checkpoint"));
        Files.write(images.resolve("pages-1.img"), new byte[] {1, 2, 3});
        Files.write(images.resolve("inventory.img"), new byte[] {4});
        Files.createSymbolicLink(images.resolve("evil.img"), Path.of("/etc/shadow"));
        Path diff = tmp.resolve("work/rootfs-diff.tar");
        List<String> deleted;
        int fd = AtFiles.openDirectory(upper, AtFiles.O_RDONLY);
        try (var out = Files.newOutputStream(diff)) {
            deleted = RootfsDiff.write(fd, out);
        } finally {
            AtFiles.close(fd);
        }
        Path log = Files.writeString(tmp.resolve("ctr.log"), "2026-12-07T05:00:00Z stdout F count 1\n");
        Path dumpLog = Files.writeString(tmp.resolve("work/dump.log"), "(00.000001) Dumping finished successfully\n");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        CheckpointArchive.write(new CheckpointArchive.Contents("{\"id\":\"c1\"}".getBytes(), "{\"ociVersion\":\"1.0.2\"}".getBytes(),
                "{}".getBytes(), "[\"pipe:[1]\",\"pipe:[2]\",\"pipe:[3]\"]".getBytes(), images, diff, deleted, log,
                dumpLog, null), out);
        Map<String, Member> m = read(new ByteArrayInputStream(out.toByteArray()));
        assertEquals(List.of("config.dump", "spec.dump", "status.dump", "descriptors.json", "checkpoint/",
                "checkpoint/inventory.img", "checkpoint/pages-1.img", "rootfs-diff.tar", "deleted.files",
                "container.log", "dump.log"), List.copyOf(m.keySet()), "evil.img, a symlink, is not carried");
        assertEquals("[\"/etc/motd\"]", new String(m.get("deleted.files").data(), StandardCharsets.UTF_8));
        assertEquals("{\"id\":\"c1\"}", new String(m.get("config.dump").data(), StandardCharsets.UTF_8));
        assertTrue(read(new ByteArrayInputStream(m.get("rootfs-diff.tar").data())).containsKey("tmp/counter"));
        assertEquals(0600, m.get("config.dump").entry().getMode());
    }

    @Test
    void locationMustBeAPlainPathInsideTheCheckpointDirectory() {
        Path dir = Path.of("/var/lib/kubelet/checkpoints");
        CheckpointLocation ok = CheckpointLocation.parse(dir, "/var/lib/kubelet/checkpoints/checkpoint-p_ns-c-2026.tar");
        assertEquals(".", ok.parent());
        assertEquals("checkpoint-p_ns-c-2026.tar", ok.name());
        assertEquals("sub/dir", CheckpointLocation.parse(dir, "/var/lib/kubelet/checkpoints/sub/dir/a.tar").parent());
        for (String bad : List.of("", "a.tar", "/tmp/a.tar", "/var/lib/kubelet/checkpoints",
                "/var/lib/kubelet/checkpoints/", "/var/lib/kubelet/checkpoints/../a.tar",
                "/var/lib/kubelet/checkpoints/x/../../a.tar", "/var/lib/kubelet/checkpoints/./a.tar",
                "/var/lib/kubelet/checkpoints//a.tar", "/var/lib/kubelet/checkpointsX/a.tar",
                "/var/lib/kubelet/checkpoints/a\0.tar", "/var/lib/kubelet/checkpoints/" + "x".repeat(256))) {
            CriError e = assertThrows(CriError.class, () -> CheckpointLocation.parse(dir, bad), bad);
            assertEquals(CriError.Kind.INVALID, e.kind(), bad);
        }
    }

    @Test
    void creationNeverFollowsAPlantedSymlink() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("checkpoints"));
        Path victim = tmp.resolve("victim");
        Files.createSymbolicLink(dir.resolve("a.tar"), victim);
        CheckpointLocation loc = CheckpointLocation.parse(dir, dir.resolve("a.tar").toString());
        assertEquals(CriError.Kind.INVALID, assertThrows(CriError.class, loc::checkFree).kind());
        // Planted between the check and the creation: O_EXCL|O_NOFOLLOW refuses it too.
        assertEquals(CriError.Kind.INVALID, assertThrows(CriError.class, loc::create).kind());
        assertFalse(Files.exists(victim, LinkOption.NOFOLLOW_LINKS));
        Files.createSymbolicLink(dir.resolve("sub"), tmp);
        CheckpointLocation through = CheckpointLocation.parse(dir, dir.resolve("sub/b.tar").toString());
        assertEquals(CriError.Kind.INVALID, assertThrows(CriError.class, through::checkFree).kind());
        assertEquals(CriError.Kind.INVALID, assertThrows(CriError.class, through::create).kind());
        assertFalse(Files.exists(tmp.resolve("b.tar")));
        CheckpointLocation fresh = CheckpointLocation.parse(dir, dir.resolve("c.tar").toString());
        fresh.checkFree();
        try (var ch = fresh.create()) {
            ch.write(java.nio.ByteBuffer.wrap("x".getBytes()));
        }
        assertEquals("x", Files.readString(dir.resolve("c.tar")));
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(dir.resolve("c.tar"))));
        assertEquals(CriError.Kind.ALREADY_EXISTS, assertThrows(CriError.class, fresh::checkFree).kind());
    }

    @Test
    void criuVersionsCompareAsCriuNumbersThem() {
        assertEquals(31701, new CriuSupport(Path.of("/usr/sbin/criu"), "3.17.1", false, "").versionNumber());
        assertEquals(40100, new CriuSupport(Path.of("/usr/sbin/criu"), "4.1", true, "").versionNumber());
        assertEquals(0, new CriuSupport(null, "", false, "not installed").versionNumber());
    }

    @Test
    void criuErrorLinesAreWhatTheRpcReports() {
        String log = """
                (00.077244) vdso: nbucket 3 nchain e bucket 7f5221302128 chain 7f5221302134
                (00.077264) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds
                (00.078853) Error (criu/crtools.c:260): Could not initialize kernel features detection.
                """;
        assertEquals(List.of("Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds",
                "Error (criu/crtools.c:260): Could not initialize kernel features detection."), CriuSupport.errorLines(log));
    }
}
