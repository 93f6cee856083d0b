package io.coracle.runtime.container;

import io.coracle.shim.ShimClient;
import io.coracle.shim.ShimException;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;

/** Ending a container's processes and deleting its directories, for remove and for undoing a failed create. */
final class ContainerCleanup {
    private ContainerCleanup() {
    }

    /**
     * SIGKILLs every process of the container through its shim and waits (bounded) for the exit record.
     * A shim that is gone (killed) cannot answer: what it left in the cgroup is the caller's to kill.
     */
    static void killAndReap(ShimClient shim, Duration timeout) throws IOException {
        if (shim.exitRecord().isPresent() || !Files.exists(shim.controlSocket())) {
            return;
        }
        try {
            shim.kill(Signals.SIGKILL, true);
            shim.awaitExit(timeout);
        } catch (ShimException e) {
            // The shim is gone or did not answer in time; the exit record may still have appeared.
        } catch (IOException e) {
            // No connection to the shim: it exited or was killed.
        }
    }

    /** Deletes a tree without following symlinks; absent is fine. */
    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                if (exc != null) {
                    throw exc;
                }
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
