package io.coracle.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Trees taken away at once and deleted in the background, never through a link or a mount. */
class TreeDiscarderTest {
    private Path base;
    private Path root;
    private Path trash;
    private Path outside;

    @BeforeEach
    void setUp() throws Exception {
        base = Files.createTempDirectory("discarder-");
        root = Files.createDirectories(base.resolve("root"));
        trash = root.resolve("trash");
        outside = Files.createDirectories(base.resolve("outside"));
        Files.writeString(outside.resolve("keep"), "host file");
    }

    @AfterEach
    void tearDown() throws Exception {
        Path mnt = base.resolve("root/containers/m/mnt");
        if (Mounts.mountPoints().contains(mnt)) {
            assertEquals(0, new ProcessBuilder("umount", mnt.toString()).inheritIO().start().waitFor());
        }
        FileTrees.delete(base); // refuses if a test left a mount
    }

    private static List<Path> list(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    @Test
    void aTreeIsGoneAtOnceAndDeletedInTheBackground() throws Exception {
        Path tree = Files.createDirectories(root.resolve("containers/c1/upper/d"));
        for (int i = 0; i < 200; i++) {
            Files.writeString(tree.resolve("f" + i), "x");
        }
        try (TreeDiscarder d = new TreeDiscarder(List.of(trash))) {
            d.discard(root.resolve("containers/c1"));
            assertFalse(Files.exists(root.resolve("containers/c1"), LinkOption.NOFOLLOW_LINKS));
            assertTrue(Files.isDirectory(root.resolve("containers")));
            d.awaitIdle(Duration.ofSeconds(30));
            assertEquals(List.of(), list(trash));
            d.discard(root.resolve("containers/c1")); // absent: fine
        }
    }

    @Test
    void linksInTheTreeAreDeletedNotFollowed() throws Exception {
        Path tree = Files.createDirectories(root.resolve("containers/c2/upper"));
        Files.createSymbolicLink(tree.resolve("to-outside"), outside);
        Files.createSymbolicLink(tree.resolve("to-file"), outside.resolve("keep"));
        Files.createSymbolicLink(tree.resolve("to-root"), Path.of("/"));
        Files.createLink(tree.resolve("hardlink"), outside.resolve("keep"));
        // The tree itself a link to a host directory: the link goes, the directory stays.
        Files.createSymbolicLink(root.resolve("containers/c3"), outside);
        try (TreeDiscarder d = new TreeDiscarder(List.of(trash))) {
            d.discard(root.resolve("containers/c2"));
            d.discard(root.resolve("containers/c3"));
            d.awaitIdle(Duration.ofSeconds(30));
        }
        assertEquals(List.of(), list(trash));
        assertFalse(Files.exists(root.resolve("containers/c3"), LinkOption.NOFOLLOW_LINKS));
        assertEquals("host file", Files.readString(outside.resolve("keep")));
        assertEquals(List.of(outside.resolve("keep")), list(outside));
        assertTrue(Files.isDirectory(Path.of("/etc")));
    }

    @Test
    void aMountInsideTheTreeIsNeverDeletedThrough() throws Exception {
        Path mnt = Files.createDirectories(root.resolve("containers/m/mnt"));
        Process p = new ProcessBuilder("mount", "--bind", outside.toString(), mnt.toString()).inheritIO().start();
        assertEquals(0, p.waitFor());
        try (TreeDiscarder d = new TreeDiscarder(List.of(trash))) {
            d.discard(root.resolve("containers/m"));
            d.awaitIdle(Duration.ofSeconds(30));
        }
        // The renamed tree stays in the trash with its mount, and the host's files under the mount stay.
        assertEquals("host file", Files.readString(outside.resolve("keep")));
        List<Path> left = list(trash);
        assertEquals(1, left.size(), left.toString());
        Path moved = left.get(0).resolve("mnt");
        assertEquals(0, new ProcessBuilder("umount", moved.toString()).inheritIO().start().waitFor());
        // With the mount gone, a new start-up deletes what is left.
        try (TreeDiscarder d = new TreeDiscarder(List.of(trash))) {
            d.awaitIdle(Duration.ofSeconds(30));
        }
        assertEquals(List.of(), list(trash));
        assertEquals("host file", Files.readString(outside.resolve("keep")));
    }

    @Test
    void aTreeThatIsItselfAMountPointIsRefusedNow() throws Exception {
        Path mnt = Files.createDirectories(root.resolve("containers/m/mnt"));
        assertEquals(0, new ProcessBuilder("mount", "--bind", outside.toString(), mnt.toString()).inheritIO().start().waitFor());
        try (TreeDiscarder d = new TreeDiscarder(List.of(trash))) {
            java.io.IOException e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                    () -> d.discard(mnt));
            assertTrue(e.getMessage().contains("mount point"), e.getMessage());
        }
        assertEquals("host file", Files.readString(mnt.resolve("keep")));
    }

    @Test
    void leftoversOfAnEarlierRunAreDeletedAtStartUp() throws Exception {
        Files.createDirectories(trash.resolve("c9.deadbeef.1/upper/x"));
        Files.writeString(trash.resolve("c9.deadbeef.1/upper/x/f"), "y");
        try (TreeDiscarder d = new TreeDiscarder(List.of(trash))) {
            d.awaitIdle(Duration.ofSeconds(30));
            assertEquals(List.of(), list(trash));
        }
    }

    @Test
    void eachTreeGoesToTheTrashOfItsOwnDirectoryAndOthersAreDeletedNow() throws Exception {
        Path state = Files.createDirectories(base.resolve("state"));
        Path stateTrash = state.resolve("trash");
        Path shimDir = Files.createDirectories(state.resolve("ctr/abc"));
        Path elsewhere = Files.createDirectories(base.resolve("elsewhere/x"));
        try (TreeDiscarder d = new TreeDiscarder(List.of(trash, stateTrash))) {
            d.discard(shimDir);
            assertFalse(Files.exists(shimDir));
            d.discard(elsewhere); // under no trash's directory: deleted at once
            assertFalse(Files.exists(elsewhere));
            d.awaitIdle(Duration.ofSeconds(30));
        }
        assertEquals(List.of(), list(stateTrash));
        assertEquals(List.of(), list(trash));
    }
}
