package io.coracle.sys;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Recursive delete that never follows a link and never deletes through a mount point (a bind-mounted
 * host directory left under a pod's or container's directory stays untouched: the delete fails).
 */
public final class FileTrees {
    private FileTrees() {}

    /** Deletes root and everything below it; absent is fine. */
    public static void delete(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        java.util.Set<Path> mounts = Mounts.mountPoints();
        if (mounts.contains(root.toAbsolutePath())) {
            throw new IOException("refusing to delete " + root + ": it is a mount point");
        }
        List<Path> all;
        try (Stream<Path> s = Files.walk(root)) {
            all = s.sorted(Comparator.reverseOrder()).toList();
        }
        // Every path checked before any is deleted: children sort before their directory, and the
        // contents of a mount (a host directory) would be gone by the time its mount point came up.
        for (Path p : all) {
            if (mounts.contains(p.toAbsolutePath())) {
                throw new IOException("refusing to delete " + root + ": " + p + " is still mounted");
            }
        }
        for (Path p : all) {
            Files.deleteIfExists(p);
        }
    }
}
