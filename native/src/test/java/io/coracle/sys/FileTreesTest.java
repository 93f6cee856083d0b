package io.coracle.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A delete that meets a mount deletes nothing at all: not the files under the mount, not its siblings. */
class FileTreesTest {
    private Path base;
    private Path mnt;

    @BeforeEach
    void setUp() throws Exception {
        base = Files.createTempDirectory("filetrees-");
        mnt = Files.createDirectories(base.resolve("pod/volumes/a"));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (Mounts.mountPoints().contains(mnt)) {
            assertEquals(0, new ProcessBuilder("umount", mnt.toString()).inheritIO().start().waitFor());
        }
        FileTrees.delete(base);
    }

    @Test
    void aBindMountedHostDirectoryUnderTheTreeKeepsItsFiles() throws Exception {
        Path host = Files.createDirectories(base.resolve("host"));
        Files.writeString(host.resolve("precious"), "data");
        Files.createDirectories(host.resolve("sub"));
        Files.writeString(host.resolve("sub/more"), "data");
        Files.writeString(base.resolve("pod/volumes/zz-sibling"), "x");
        assertEquals(0, new ProcessBuilder("mount", "--bind", host.toString(), mnt.toString()).inheritIO().start().waitFor());
        IOException e = assertThrows(IOException.class, () -> FileTrees.delete(base.resolve("pod")));
        assertTrue(e.getMessage().contains("is still mounted"), e.getMessage());
        assertEquals("data", Files.readString(host.resolve("precious")));
        assertEquals("data", Files.readString(host.resolve("sub/more")));
        assertTrue(Files.exists(base.resolve("pod/volumes/zz-sibling"))); // nothing deleted before the refusal
    }
}
