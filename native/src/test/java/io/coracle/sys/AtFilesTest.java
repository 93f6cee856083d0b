package io.coracle.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reading a file a running container may swap under us: only a regular file is ever opened; a FIFO
 * (whose open would block) or a device node (whose open has effects: a watchdog reboots the node) is
 * refused without being opened, and a symlink is never followed.
 */
class AtFilesTest {
    @TempDir
    Path tmp;

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        assertEquals(0, p.waitFor(), String.join(" ", cmd));
    }

    @Test
    void onlyARegularFileIsOpenedForReading() throws Exception {
        Files.writeString(tmp.resolve("file"), "data");
        run("mkfifo", tmp.resolve("fifo").toString());
        run("mknod", tmp.resolve("null").toString(), "c", "1", "3");
        Files.createSymbolicLink(tmp.resolve("link"), tmp.resolve("file"));
        int dir = AtFiles.openDirectory(tmp, AtFiles.O_RDONLY);
        try {
            int fd = AtFiles.openRegularForReading(dir, "file");
            try {
                byte[] buf = new byte[16];
                int n = AtFiles.read(fd, buf, buf.length, "file");
                assertEquals("data", new String(buf, 0, n, StandardCharsets.UTF_8));
            } finally {
                AtFiles.close(fd);
            }
            // A FIFO with no writer: an open for reading would block forever.
            AtFiles.ErrnoException fifo = assertTimeoutPreemptively(Duration.ofSeconds(10),
                    () -> assertThrows(AtFiles.ErrnoException.class, () -> AtFiles.openRegularForReading(dir, "fifo")));
            assertEquals(AtFiles.EINVAL, fifo.errno());
            assertEquals(AtFiles.EINVAL, assertThrows(AtFiles.ErrnoException.class,
                    () -> AtFiles.openRegularForReading(dir, "null")).errno());
            // O_PATH|O_NOFOLLOW holds the link itself: refused as not a regular file, never followed.
            assertEquals(AtFiles.EINVAL, assertThrows(AtFiles.ErrnoException.class,
                    () -> AtFiles.openRegularForReading(dir, "link")).errno());
            assertEquals(AtFiles.ENOENT, assertThrows(AtFiles.ErrnoException.class,
                    () -> AtFiles.openRegularForReading(dir, "gone")).errno());
        } finally {
            AtFiles.close(dir);
        }
    }
}
