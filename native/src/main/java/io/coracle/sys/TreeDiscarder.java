package io.coracle.sys;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * Deletes directory trees off the caller's path: {@link #discard} renames a tree into a trash directory
 * on its filesystem (atomic: its name is free, and nothing reads it, at once) and one background thread
 * deletes it with {@link FileTrees#delete} (no link followed, never through a mount point). Trees a
 * crash left in the trash are deleted when the discarder is made, at start-up.
 */
public final class TreeDiscarder implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(TreeDiscarder.class.getName());

    private final List<Path> trashes;
    private final ExecutorService worker = Executors.newSingleThreadExecutor(Thread.ofVirtual().name("tree-discarder").factory());
    private final AtomicLong sequence = new AtomicLong();
    /** Names in the trash differ from those a previous run left there, still being deleted. */
    private final String run = Long.toHexString(new java.security.SecureRandom().nextLong());

    /** One trash directory per filesystem, each a sibling of the trees it takes ({@code <root>/trash}, {@code <state>/trash}). */
    public TreeDiscarder(List<Path> trashes) throws IOException {
        // The most specific first: a tree goes to the trash of the deepest directory that holds it.
        this.trashes = trashes.stream().map(Path::toAbsolutePath)
                .sorted(Comparator.comparingInt(Path::getNameCount).reversed()).toList();
        for (Path trash : this.trashes) {
            PrivateFiles.directory(trash);
            try (Stream<Path> left = Files.list(trash)) {
                left.forEach(this::deleteLater);
            }
        }
    }

    /**
     * Takes {@code root} away now and deletes it in the background; absent is fine. A tree that cannot be
     * renamed into a trash (none on its filesystem, or it is itself a mount point) is deleted now.
     */
    public void discard(Path root) throws IOException {
        Path abs = root.toAbsolutePath();
        Path trash = trashes.stream().filter(t -> abs.startsWith(t.getParent()) && !abs.startsWith(t)).findFirst().orElse(null);
        if (trash == null) {
            FileTrees.delete(root);
            return;
        }
        Path target = trash.resolve(root.getFileName() + "." + run + "." + sequence.incrementAndGet());
        try {
            Files.move(abs, target, StandardCopyOption.ATOMIC_MOVE); // rename(2): moves a link, never follows it
        } catch (NoSuchFileException e) {
            if (Files.exists(abs, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                FileTrees.delete(root); // the trash itself went missing
            }
            return;
        } catch (AtomicMoveNotSupportedException e) {
            FileTrees.delete(root); // another filesystem
            return;
        } catch (FileSystemException e) {
            FileTrees.delete(root); // EBUSY (a mount point): the delete refuses with its reason
            return;
        }
        deleteLater(target);
    }

    private void deleteLater(Path tree) {
        worker.execute(() -> {
            try {
                FileTrees.delete(tree);
            } catch (IOException | RuntimeException e) {
                // Left in the trash; the next start-up tries again.
                LOG.warning("cannot delete " + tree + " (discarded): " + e.getMessage());
            }
        });
    }

    /** Waits (bounded) for the deletions already queued. */
    public void awaitIdle(Duration timeout) throws InterruptedException {
        java.util.concurrent.Future<?> marker = worker.submit(() -> { });
        try {
            marker.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.warning("discarded trees are still being deleted after " + timeout);
        }
    }

    @Override
    public void close() {
        worker.shutdown();
        try {
            if (!worker.awaitTermination(10, TimeUnit.SECONDS)) {
                LOG.warning("discarded trees still being deleted at shutdown are left for the next start-up");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
