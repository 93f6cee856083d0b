package io.coracle.image;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

/** Measures bytes and inodes used under the image root (and a container root), cached for a few seconds. */
public final class FilesystemUsage {
    private static final long CACHE_NANOS = 5_000_000_000L;

    /** One filesystem's usage. */
    public record Usage(Path mountpoint, long bytes, long inodes) {
    }

    /** Image store usage, and the container root's if it is on another filesystem (else null). */
    public record Report(long timestampNanos, Usage images, Usage containers) {
    }

    private final Path imageRoot;
    private final Path containerRoot;
    private Report cached;
    private long cachedAt;

    FilesystemUsage(Path imageRoot, Path containerRoot) {
        this.imageRoot = imageRoot;
        this.containerRoot = containerRoot;
    }

    synchronized Report report() {
        long now = System.nanoTime();
        if (cached != null && now - cachedAt < CACHE_NANOS) {
            return cached;
        }
        Usage img = measure(imageRoot);
        Usage ctr = null;
        if (containerRoot != null && Files.isDirectory(containerRoot) && !sameStore(imageRoot, containerRoot)) {
            ctr = measure(containerRoot);
        }
        cached = new Report(System.currentTimeMillis() * 1_000_000L, img, ctr);
        cachedAt = now;
        return cached;
    }

    private static boolean sameStore(Path a, Path b) {
        try {
            FileStore fa = Files.getFileStore(a);
            FileStore fb = Files.getFileStore(b);
            return Objects.equals(fa.name(), fb.name()) && Objects.equals(fa.toString(), fb.toString());
        } catch (IOException e) {
            return true;
        }
    }

    private static Usage measure(Path root) {
        long[] acc = new long[2];
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                    acc[0] += attrs.size();
                    acc[1]++;
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    acc[0] += attrs.size();
                    acc[1]++;
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException exc) {
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            // partial numbers are still useful
        }
        return new Usage(root, acc[0], acc[1]);
    }
}
