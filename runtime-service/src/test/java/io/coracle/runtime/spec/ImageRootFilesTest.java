package io.coracle.runtime.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.sys.Syscalls;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import jnr.ffi.LibraryLoader;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The image's files as overlayfs shows them, never the host's: every symlink trick a hostile layer
 * can play on /etc/passwd resolves inside the image root or fails; whiteouts and opaque directories
 * hide; the read is bounded. A "host" directory with its own passwd sits beside the layers: it must
 * never be what is read.
 */
class ImageRootFilesTest {
    @TempDir
    Path dir;
    Path top;
    Path bottom;
    /** Stands for the host's /etc: an absolute path outside the layers. */
    Path hostEtc;

    /** lsetxattr for the opaque marker (Java sets only user.* attributes). */
    public interface LibC {
        int lsetxattr(String path, String name, byte[] value, long size, int flags);
    }

    @BeforeEach
    void layers() throws Exception {
        top = Files.createDirectories(dir.resolve("top"));
        bottom = Files.createDirectories(dir.resolve("bottom"));
        hostEtc = Files.createDirectories(dir.resolve("host/etc"));
        Files.writeString(hostEtc.resolve("passwd"), "hostonly:x:0:0::/:/bin/sh\n");
        Files.writeString(hostEtc.resolve("shadow"), "root:host-secret:::::::\n");
    }

    private Optional<String> read(String path) throws Exception {
        return new ImageRootFiles(List.of(top, bottom)).read(path);
    }

    private static void write(Path layer, String path, String text) throws Exception {
        Path p = layer.resolve(path);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
    }

    private static void symlink(Path layer, String path, String target) throws Exception {
        Path p = layer.resolve(path);
        Files.createDirectories(p.getParent());
        Files.createSymbolicLink(p, Path.of(target));
    }

    private static void whiteout(Path layer, String path) throws Exception {
        Path p = layer.resolve(path);
        Files.createDirectories(p.getParent());
        Process mknod = new ProcessBuilder("mknod", p.toString(), "c", "0", "0").inheritIO().start();
        assertEquals(0, mknod.waitFor());
    }

    private static void opaque(Path directory) {
        LibC libc = LibraryLoader.create(LibC.class).load("c");
        byte[] y = "y".getBytes(StandardCharsets.US_ASCII);
        assertEquals(0, libc.lsetxattr(directory.toString(), "trusted.overlay.opaque", y, y.length, 0));
    }

    @Test
    void mergedViewTopLayerWinsAndDirectoriesMerge() throws Exception {
        write(bottom, "etc/passwd", "bottom\n");
        write(bottom, "etc/group", "bottom-group\n");
        write(top, "etc/passwd", "top\n");
        assertEquals(Optional.of("top\n"), read("/etc/passwd"));
        assertEquals(Optional.of("bottom-group\n"), read("/etc/group"));
        assertEquals(Optional.of("bottom-group\n"), read("//etc/./group"));
        assertEquals(Optional.empty(), read("/etc/nothing"));
        assertEquals(Optional.empty(), read("/etc/passwd/x"));
    }

    @Test
    void whiteoutsAndOpaqueDirectoriesHideLowerFiles() throws Exception {
        write(bottom, "etc/passwd", "bottom\n");
        write(bottom, "etc/group", "bottom-group\n");
        whiteout(top, "etc/passwd");
        assertEquals(Optional.empty(), read("/etc/passwd"));
        assertEquals(Optional.of("bottom-group\n"), read("/etc/group"));

        opaque(top.resolve("etc"));
        assertEquals(Optional.empty(), read("/etc/group"));

        // A whited-out directory, and a file where the lower layer has a directory, hide it all.
        Path top2 = Files.createDirectories(dir.resolve("top2"));
        whiteout(top2, "etc");
        assertEquals(Optional.empty(), new ImageRootFiles(List.of(top2, bottom)).read("/etc/group"));
        Path top3 = Files.createDirectories(dir.resolve("top3"));
        Files.writeString(top3.resolve("etc"), "a file");
        assertEquals(Optional.empty(), new ImageRootFiles(List.of(top3, bottom)).read("/etc/group"));
    }

    @Test
    void anAbsoluteEtcLinkResolvesInsideTheImageRoot() throws Exception {
        // etc -> /hostetc: the image's own /hostetc/passwd, not the host's.
        symlink(bottom, "etc", "/hostetc");
        write(bottom, "hostetc/passwd", "image:x:5:5::/:/bin/sh\n");
        assertEquals(Optional.of("image:x:5:5::/:/bin/sh\n"), read("/etc/passwd"));
        // The same through a relative link climbing out: ".." stops at the image root.
        Path other = Files.createDirectories(dir.resolve("other"));
        symlink(other, "etc", "../../../../../../../../hostetc");
        write(other, "hostetc/passwd", "climbed:x:6:6::/:/bin/sh\n");
        assertEquals(Optional.of("climbed:x:6:6::/:/bin/sh\n"), new ImageRootFiles(List.of(other)).read("/etc/passwd"));
    }

    @Test
    void linksToHostPathsNeverReachTheHost() throws Exception {
        // etc -> <the host's etc>, absolute and by climbing: inside the image that path does not exist.
        symlink(top, "etc", hostEtc.toString());
        assertEquals(Optional.empty(), read("/etc/passwd"));
        Path climbing = Files.createDirectories(dir.resolve("climbing"));
        symlink(climbing, "etc", "../../../../../../../../../.." + hostEtc);
        assertEquals(Optional.empty(), new ImageRootFiles(List.of(climbing)).read("/etc/passwd"));
        // passwd -> the host's shadow.
        Path file = Files.createDirectories(dir.resolve("file"));
        symlink(file, "etc/passwd", hostEtc.resolve("shadow").toString());
        assertEquals(Optional.empty(), new ImageRootFiles(List.of(file)).read("/etc/passwd"));
        // etc -> /etc (the host's /etc on the host) loops inside the image: refused, never followed out.
        Path self = Files.createDirectories(dir.resolve("self"));
        symlink(self, "etc", "/etc");
        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                () -> new ImageRootFiles(List.of(self)).read("/etc/passwd"));
        assertEquals("the image's /etc/passwd: more than 40 symbolic links", e.getMessage());
        Path relative = Files.createDirectories(dir.resolve("relative"));
        symlink(relative, "etc", "../../../../etc");
        assertThrows(InvalidContainerConfigException.class, () -> new ImageRootFiles(List.of(relative)).read("/etc/passwd"));
    }

    @Test
    void linksInsideTheImageAreFollowedThere() throws Exception {
        // passwd -> /etc/shadow is the image's own shadow (harmless), through a lower layer's link.
        write(bottom, "etc/shadow", "image-shadow\n");
        symlink(top, "etc/passwd", "/etc/../../../etc/shadow");
        assertEquals(Optional.of("image-shadow\n"), read("/etc/passwd"));
        symlink(top, "etc/group", "shadow");
        assertEquals(Optional.of("image-shadow\n"), read("/etc/group"));
        symlink(top, "etc/a", "b");
        symlink(top, "etc/b", "a");
        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class, () -> read("/etc/a"));
        assertTrue(e.getMessage().contains("symbolic links"), e.getMessage());
    }

    @Test
    void aFileThatIsNotRegularIsRefusedWithoutBlocking() throws Exception {
        Files.createDirectories(top.resolve("etc"));
        Syscalls.mkfifo(top.resolve("etc/passwd"), 0644);
        Files.createDirectories(top.resolve("etc/group"));
        assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
            InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class, () -> read("/etc/passwd"));
            assertEquals("the image's /etc/passwd is not a regular file", e.getMessage());
        });
        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class, () -> read("/etc/group"));
        assertEquals("the image's /etc/group is a directory", e.getMessage());
    }

    @Test
    void aHugeSparsePasswdIsRefusedWithoutReadingIt() throws Exception {
        Files.createDirectories(top.resolve("etc"));
        try (RandomAccessFile f = new RandomAccessFile(top.resolve("etc/passwd").toFile(), "rw")) {
            f.setLength(1L << 30);
        }
        assertTimeoutPreemptively(Duration.ofSeconds(2), () -> {
            InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class, () -> read("/etc/passwd"));
            assertEquals("the image's /etc/passwd is 1073741824 bytes, more than the 4194304 read from an image",
                    e.getMessage());
        });
        // At the bound exactly, it is read.
        try (RandomAccessFile f = new RandomAccessFile(top.resolve("etc/passwd").toFile(), "rw")) {
            f.setLength(ImageRootFiles.MAX_BYTES);
        }
        assertEquals(ImageRootFiles.MAX_BYTES, read("/etc/passwd").orElseThrow().length());
    }

    @Test
    void aSubPathDirectoryIsTheLayersThatShowIt() throws Exception {
        write(bottom, "data/sub/a", "a");
        write(top, "data/sub/b", "b");
        write(bottom, "other/c", "c");
        ImageRootFiles files = new ImageRootFiles(List.of(top, bottom));
        assertEquals(List.of(top.resolve("data/sub"), bottom.resolve("data/sub")), files.directoryLayers("data/sub"));
        assertEquals(List.of(bottom.resolve("other")), files.directoryLayers("data/../other"));
        assertEquals(List.of(top, bottom), files.directoryLayers("."));
        symlink(top, "inside", "data/sub");
        assertEquals(List.of(top.resolve("data/sub"), bottom.resolve("data/sub")), files.directoryLayers("inside"));
        // An opaque directory stops the merge; a whiteout hides.
        opaque(top.resolve("data/sub"));
        assertEquals(List.of(top.resolve("data/sub")), files.directoryLayers("data/sub"));
        whiteout(top, "other");
        assertThrows(java.util.NoSuchElementException.class, () -> files.directoryLayers("other"));
    }

    @Test
    void aSubPathThatEscapesOrNamesNoDirectoryIsRefused() throws Exception {
        write(bottom, "data/file", "f");
        symlink(top, "abs", hostEtc.getParent().toString());
        symlink(top, "up", "../../..");
        symlink(top, "data/up", "../..");
        ImageRootFiles files = new ImageRootFiles(List.of(top, bottom));
        for (String escape : List.of("..", "data/../..", "abs", "up", "data/up", "data/up/host")) {
            InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                    () -> files.directoryLayers(escape), escape);
            assertTrue(e.getMessage().contains("escapes the image root"), e.getMessage());
        }
        assertTrue(assertThrows(InvalidContainerConfigException.class, () -> files.directoryLayers("/data"))
                .getMessage().contains("is absolute"));
        assertTrue(assertThrows(InvalidContainerConfigException.class, () -> files.directoryLayers("data/file"))
                .getMessage().contains("is not a directory"));
        assertThrows(java.util.NoSuchElementException.class, () -> files.directoryLayers("data/file/x"));
        assertThrows(java.util.NoSuchElementException.class, () -> files.directoryLayers("nothing"));
    }
}
