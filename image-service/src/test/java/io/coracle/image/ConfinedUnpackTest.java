package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.unpack.LayerUnpacker;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Layers that try to reach the host through symlinks they create themselves (in the same layer): the
 * reported case (a directory's deferred mode applied through a symlink that replaced it) and its
 * variants for owner, times, xattrs, hard links, whiteouts, opaque markers and plain writes. Each
 * unpacks into its own root and asserts that a victim file and directory OUTSIDE that root are
 * exactly as before (mode, owner, link count, content, mtime, ctime, every xattr), and that the
 * unpack either refused the layer as HOSTILE_LAYER or stored the symlink as a symlink.
 */
class ConfinedUnpackTest {
    static final byte[] CAP_NET_BIND = {1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; // vfs_cap_data v2, effective
    static final long T_OLD = 1_500_000_000_000L;

    @TempDir
    Path tmp;
    Path root;
    Path victimDir;
    Path victim;
    String before;

    @BeforeEach
    void victims() throws Exception {
        root = Files.createDirectory(tmp.resolve("layer"));
        victimDir = Files.createDirectory(tmp.resolve("host"));
        victim = victimDir.resolve("victim");
        Files.writeString(victim, "host secret\n");
        ImagePullTest.run("chmod", "0644", victim.toString());
        ImagePullTest.run("chmod", "0755", victimDir.toString());
        ImagePullTest.run("python3", "-c", "import os,sys; os.setxattr(sys.argv[1], 'user.victim', b'orig')", victim.toString());
        Files.setLastModifiedTime(victim, FileTime.fromMillis(T_OLD));
        Files.setLastModifiedTime(victimDir, FileTime.fromMillis(T_OLD));
        before = hostState();
    }

    String hostState() throws Exception {
        return hostState(victimDir, victim);
    }

    /** Everything about these host files a layer could change, as text. */
    static String hostState(Path... paths) throws Exception {
        String[] cmd = new String[paths.length + 3];
        cmd[0] = "python3";
        cmd[1] = "-c";
        cmd[2] = """
                import os, sys, stat
                for p in sys.argv[1:]:
                    try:
                        st = os.lstat(p)
                    except FileNotFoundError:
                        print(p, 'absent'); continue
                    xs = sorted((n, os.getxattr(p, n, follow_symlinks=False).hex()) for n in os.listxattr(p, follow_symlinks=False))
                    body = open(p, 'rb').read().hex() if stat.S_ISREG(st.st_mode) else sorted(os.listdir(p))
                    print(p, oct(st.st_mode), st.st_uid, st.st_gid, st.st_nlink, st.st_mtime_ns, st.st_ctime_ns, xs, body)
                """;
        for (int i = 0; i < paths.length; i++) {
            cmd[i + 3] = paths[i].toString();
        }
        return ImagePullTest.run(cmd);
    }

    void assertHostUnchanged() throws Exception {
        assertEquals(before, hostState(), "the host outside the layer is unchanged");
    }

    void unpack(TestLayer layer) {
        LayerUnpacker.unpack(new ByteArrayInputStream(layer.tar()), root, null, List::of, "test layer");
    }

    void assertHostile(TestLayer layer) throws Exception {
        ImageException e = assertThrows(ImageException.class, () -> unpack(layer));
        assertEquals(ImageException.Reason.HOSTILE_LAYER, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("rejected tar entry"), e.getMessage());
        assertHostUnchanged();
    }

    void assertSymlink(String name, String target) throws Exception {
        Path p = root.resolve(name);
        assertTrue(Files.isSymbolicLink(p), name + " is stored as a symlink");
        assertEquals(target, Files.readSymbolicLink(p).toString());
    }

    /** A directory entry: mode (with setuid etc.), owner, mtime, xattrs. */
    static TestLayer dir(TestLayer l, String name, int mode, int uid, long mtime, Map<String, byte[]> xattrs) {
        return l.entry(name + "/", TarConstants.LF_DIR, e -> {
            e.setMode(0040000 | mode);
            e.setUserId(uid);
            e.setGroupId(uid);
            e.setModTime(mtime);
        }, null, xattrs);
    }

    static TestLayer file(TestLayer l, String name, String content, int mode, int uid, Map<String, byte[]> xattrs) {
        return l.entry(name, TarConstants.LF_NORMAL, e -> {
            e.setMode(0100000 | mode);
            e.setUserId(uid);
            e.setGroupId(uid);
            e.setModTime(T_OLD + 86_400_000L);
        }, content.getBytes(StandardCharsets.UTF_8), xattrs);
    }

    static TestLayer symlink(TestLayer l, String name, String target, int uid) {
        return l.entry(name, TarConstants.LF_SYMLINK, e -> {
            e.setLinkName(target);
            e.setUserId(uid);
            e.setGroupId(uid);
            e.setModTime(T_OLD + 2 * 86_400_000L);
        }, null, Map.of());
    }

    static Map<String, byte[]> evilXattrs() {
        return Map.of("user.pwn", "yes".getBytes(StandardCharsets.UTF_8), "security.capability", CAP_NET_BIND,
                "trusted.overlay.opaque", new byte[] {'y'});
    }

    // ---- the reported case and its metadata variants: a directory, then a symlink with its name

    @Test
    void directoryModeIsNotAppliedThroughTheSymlinkThatReplacedIt() throws Exception {
        for (Path target : List.of(victim, victimDir)) {
            unpack(symlink(dir(new TestLayer(), "x", 04777, 0, T_OLD, Map.of()), "x", target.toString(), 0));
            assertSymlink("x", target.toString());
            assertHostUnchanged();
            LayerUnpacker.deleteTree(root);
            Files.createDirectory(root);
        }
    }

    @Test
    void ownerTimesAndXattrsOfTheReplacedDirectoryStayInTheLayer() throws Exception {
        // Everything a directory entry carries: setgid+sticky mode, owner, a new mtime, xattrs.
        TestLayer l = dir(new TestLayer(), "a/x", 06777, 4242, T_OLD + 999_000L, evilXattrs());
        dir(l, "a/x/sub", 04777, 4242, T_OLD + 5_000L, evilXattrs());
        symlink(l, "a/x", victim.toString(), 4243);
        unpack(l);
        assertSymlink("a/x", victim.toString());
        assertEquals(4243, (int) Files.getAttribute(root.resolve("a/x"), "unix:uid", LinkOption.NOFOLLOW_LINKS));
        assertHostUnchanged();
    }

    @Test
    void symlinkTimesAndOwnerAreSetOnTheLinkItself() throws Exception {
        unpack(symlink(new TestLayer(), "v", victim.toString(), 4242));
        assertSymlink("v", victim.toString());
        assertEquals(4242, (int) Files.getAttribute(root.resolve("v"), "unix:uid", LinkOption.NOFOLLOW_LINKS));
        assertEquals(T_OLD + 2 * 86_400_000L, Files.getLastModifiedTime(root.resolve("v"), LinkOption.NOFOLLOW_LINKS).toMillis());
        assertHostUnchanged();
    }

    @Test
    void fileEntryOverASymlinkReplacesTheLinkNotItsTarget() throws Exception {
        TestLayer l = symlink(new TestLayer(), "x", victim.toString(), 0);
        file(l, "x", "pwned\n", 04777, 4242, evilXattrs());
        unpack(l);
        Path x = root.resolve("x");
        assertFalse(Files.isSymbolicLink(x));
        assertEquals("pwned\n", Files.readString(x));
        assertEquals(04777, (int) Files.getAttribute(x, "unix:mode") & 07777);
        assertEquals(4242, (int) Files.getAttribute(x, "unix:uid"));
        assertHostUnchanged();
    }

    @Test
    void writesBelowASymlinkAreHostile() throws Exception {
        assertHostile(file(symlink(new TestLayer(), "x", victimDir.toString(), 0), "x/victim", "pwned\n", 0644, 0, Map.of()));
        assertHostile(file(symlink(new TestLayer(), "x", victimDir.toString(), 0), "x/new", "pwned\n", 0644, 0, Map.of()));
        assertHostile(dir(symlink(new TestLayer(), "x", victimDir.toString(), 0), "x/d", 04777, 0, T_OLD, Map.of()));
        // a directory replaced by a symlink, then written into
        assertHostile(file(symlink(dir(new TestLayer(), "x", 0755, 0, T_OLD, Map.of()), "x", victimDir.toString(), 0),
                "x/victim", "pwned\n", 0644, 0, Map.of()));
        // the symlink deeper in the parent chain
        assertHostile(file(symlink(new TestLayer().dir("a"), "a/b", victimDir.toString(), 0), "a/b/c/victim", "p\n", 0644, 0, Map.of()));
        assertFalse(Files.exists(victimDir.resolve("new")));
    }

    // ---- whiteouts, opaque markers and hard links through a replaced path

    @Test
    void whiteoutOfASymlinkRemovesTheLinkOnly() throws Exception {
        TestLayer l = symlink(new TestLayer(), "x", victim.toString(), 0);
        l.file(".wh.x", "");
        unpack(l);
        assertEquals("character special file 0:0\n", ImagePullTest.run("stat", "-c", "%F %t:%T", root.resolve("x").toString()));
        assertHostUnchanged();
    }

    @Test
    void whiteoutAndOpaqueMarkerBelowASymlinkAreHostile() throws Exception {
        assertHostile(symlink(dir(new TestLayer(), "x", 0755, 0, T_OLD, Map.of()), "x", victimDir.toString(), 0).file("x/.wh.victim", ""));
        assertHostile(symlink(dir(new TestLayer(), "x", 0755, 0, T_OLD, Map.of()), "x", victimDir.toString(), 0).file("x/.wh..wh..opq", ""));
        assertTrue(Files.exists(victim));
    }

    @Test
    void hardLinksThroughAReplacedPathAreHostileOrLinkTheSymlinkItself() throws Exception {
        // a/ held a file, then became a symlink to the host dir; a link through it names a host file
        TestLayer l = new TestLayer().dir("a").file("a/victim", "layer\n");
        symlink(l, "a", victimDir.toString(), 0).hardlink("h", "a/victim");
        assertHostile(l);
        // a hard link to a symlink links the symlink, never what it points to
        LayerUnpacker.deleteTree(root);
        Files.createDirectory(root);
        unpack(symlink(new TestLayer(), "s", victim.toString(), 0).hardlink("h", "s"));
        assertSymlink("h", victim.toString());
        assertEquals(2, (int) Files.getAttribute(root.resolve("s"), "unix:nlink", LinkOption.NOFOLLOW_LINKS));
        assertHostUnchanged();
        assertHostile(new TestLayer().hardlink("h", victim.toString()));
    }

    @Test
    void devicesAndFifosOverASymlinkReplaceTheLink() throws Exception {
        TestLayer l = symlink(new TestLayer(), "p", victim.toString(), 0);
        l.entry("p", TarConstants.LF_FIFO, e -> {
            e.setMode(0010000 | 04666);
            e.setUserId(4242);
        }, null, evilXattrs());
        unpack(l);
        assertEquals("fifo 4666 4242\n", ImagePullTest.run("stat", "-c", "%F %a %u", root.resolve("p").toString()));
        assertHostUnchanged();
    }

    // ---- deferred directory metadata follows the directory, not the name

    @Test
    void removedAndRecreatedDirectoryGetsTheNewEntrysMetadata() throws Exception {
        TestLayer l = dir(new TestLayer(), "d", 04777, 0, T_OLD, Map.of());
        l.file(".wh.d", "");
        dir(l, "d", 0751, 0, T_OLD + 7_000L, Map.of());
        dir(l, "e", 02777, 0, T_OLD, Map.of());
        symlink(l, "e", victimDir.toString(), 0);
        dir(l, "e", 0750, 0, T_OLD + 9_000L, Map.of());
        dir(l, "f", 04777, 0, T_OLD, Map.of());
        file(l, "f", "now a file\n", 0600, 0, Map.of());
        unpack(l);
        assertEquals("directory 751 " + (T_OLD + 7_000L) / 1000 + "\n",
                ImagePullTest.run("stat", "-c", "%F %a %Y", root.resolve("d").toString()));
        assertEquals("directory 750 " + (T_OLD + 9_000L) / 1000 + "\n",
                ImagePullTest.run("stat", "-c", "%F %a %Y", root.resolve("e").toString()));
        assertEquals("regular file 600\n", ImagePullTest.run("stat", "-c", "%F %a", root.resolve("f").toString()));
        assertHostUnchanged();
    }

    @Test
    void directoryReDeclaredKeepsItsContentAndTakesTheLastMetadata() throws Exception {
        TestLayer l = dir(new TestLayer(), "d", 0700, 0, T_OLD, Map.of());
        l.file("d/f", "kept\n");
        dir(l, "d", 02755, 0, T_OLD + 3_000L, Map.of());
        unpack(l);
        assertEquals("kept\n", Files.readString(root.resolve("d/f")));
        assertEquals("2755 " + (T_OLD + 3_000L) / 1000 + "\n", ImagePullTest.run("stat", "-c", "%a %Y", root.resolve("d").toString()));
    }

    // ---- xattrs: image ones applied (raw bytes), overlayfs' own and others never

    @Test
    void onlyImageXattrsAreApplied() throws Exception {
        TestLayer l = new TestLayer();
        file(l, "bin/ping", "elf\n", 0755, 0, Map.of("security.capability", CAP_NET_BIND, "user.keep", "1".getBytes(),
                "trusted.overlay.redirect", "/etc".getBytes(), "trusted.overlay.metacopy", new byte[0],
                "trusted.evil", "x".getBytes(), "security.evil", "x".getBytes()));
        dir(l, "opq", 0755, 0, T_OLD, Map.of("trusted.overlay.opaque", new byte[] {'y'}, "user.d", "2".getBytes()));
        unpack(l);
        String xattrs = ImagePullTest.run("python3", "-c",
                "import os,sys\nfor p in sys.argv[1:]: print(sorted((n, os.getxattr(p, n).hex()) for n in os.listxattr(p)))",
                root.resolve("bin/ping").toString(), root.resolve("opq").toString());
        assertEquals("[('security.capability', '0100000200040000000000000000000000000000'), ('user.keep', '31')]\n"
                + "[('user.d', '32')]\n", xattrs);
    }

    // ---- symlinks are data: stored verbatim wherever they point

    @Test
    void symlinksAnywhereAreStoredVerbatim() throws Exception {
        TestLayer ok = new TestLayer().dir("usr/lib64").dir("bin").dir("a/b");
        symlink(ok, "lib64", "usr/lib64", 0);
        symlink(ok, "bin/x", "/etc/passwd", 0);
        symlink(ok, "a/b/up", "../../../../../../../" + victim, 0);
        symlink(ok, "a/abs", victim.toString(), 4242);
        unpack(ok);
        assertSymlink("lib64", "usr/lib64");
        assertSymlink("bin/x", "/etc/passwd");
        assertSymlink("a/b/up", "../../../../../../../" + victim);
        assertSymlink("a/abs", victim.toString());
        assertHostUnchanged();
    }

    @Test
    void idsOutOfRangeAreHostile() throws Exception {
        Consumer<TarArchiveEntry> bigUid = e -> {
            e.setMode(0100644);
            e.setUserId(1L << 32);
        };
        assertHostile(new TestLayer().entry("f", TarConstants.LF_NORMAL, bigUid, "x".getBytes(), Map.of()));
    }
}
