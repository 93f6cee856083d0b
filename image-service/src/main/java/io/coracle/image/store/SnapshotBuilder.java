package io.coracle.image.store;

import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import io.coracle.image.content.BlobProgress;
import io.coracle.image.content.ContentStore;
import io.coracle.image.content.Descriptor;
import io.coracle.image.unpack.LayerUnpacker;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadFactory;
import java.util.logging.Logger;

/**
 * Makes sure every layer of an image has its snapshot: for each missing chain ID, fetch the blob
 * and unpack it. Layers fetch (on the executor) and unpack (on platform threads) in parallel (each
 * snapshot is its own directory); concurrent requests for one chain ID share one unpack.
 */
public final class SnapshotBuilder {
    private static final Logger LOG = Logger.getLogger(SnapshotBuilder.class.getName());

    /** Gets a layer blob into the content store (download, or nothing for an import), reporting progress. */
    @FunctionalInterface
    public interface BlobSource {
        void ensure(Descriptor layer, BlobProgress progress);
    }

    /**
     * Unpacks run on platform threads: their file system calls go through JNR, which pins a virtual
     * thread to its carrier with no compensation (unlike the JDK's own file I/O), so a few unpacks
     * busy in inflate or blocked in write(2) could hold every carrier while the downloads they
     * follow, on virtual threads, wait. The OS schedules these against the rest fairly.
     */
    private static final ThreadFactory UNPACKERS = Thread.ofPlatform().name("coracle-unpack-", 0).daemon().factory();

    private final ContentStore content;
    private final SnapshotStore snapshots;
    private final ExecutorService executor;
    private final Semaphore unpacks;
    private final Map<Digest, CompletableFuture<Path>> inFlight = new ConcurrentHashMap<>();

    public SnapshotBuilder(ContentStore content, SnapshotStore snapshots, ExecutorService executor, int maxUnpacks) {
        this.content = content;
        this.snapshots = snapshots;
        this.executor = executor;
        this.unpacks = new Semaphore(maxUnpacks);
    }

    /** Builds missing snapshots; returns chain IDs bottom first. */
    public List<Digest> build(List<Descriptor> layers, List<Digest> diffIds, BlobSource source, String what) {
        if (layers.size() != diffIds.size()) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT,
                    what + ": manifest has " + layers.size() + " layers but config has " + diffIds.size() + " diff IDs");
        }
        List<Digest> chains = SnapshotStore.chainIds(diffIds);
        List<CompletableFuture<Path>> futures = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            Digest chain = chains.get(i);
            Descriptor layer = layers.get(i);
            Digest diffId = diffIds.get(i);
            List<CompletableFuture<Path>> below = List.copyOf(futures);
            if (snapshots.exists(chain)) {
                futures.add(CompletableFuture.completedFuture(snapshots.path(chain)));
                continue;
            }
            CompletableFuture<Path> mine = new CompletableFuture<>();
            CompletableFuture<Path> existing = inFlight.putIfAbsent(chain, mine);
            if (existing != null) {
                futures.add(existing);
                continue;
            }
            futures.add(mine);
            String layerWhat = what + " layer " + i + " " + layer.digest();
            UNPACKERS.newThread(() -> {
                try {
                    mine.complete(buildOne(layer, diffId, chain, below, source, layerWhat));
                } catch (Throwable t) {
                    mine.completeExceptionally(t);
                } finally {
                    inFlight.remove(chain, mine);
                }
            }).start();
        }
        ImageException first = null;
        for (CompletableFuture<Path> f : futures) {
            try {
                f.join();
            } catch (CompletionException e) {
                if (first == null) {
                    first = e.getCause() instanceof ImageException ie ? new ImageException(ie.reason(), ie.getMessage(), ie)
                            : new ImageException(ImageException.Reason.IO, what + ": " + e.getCause(), e.getCause());
                }
            }
        }
        if (first != null) {
            throw first;
        }
        snapshots.sync();
        return chains;
    }

    private Path buildOne(Descriptor layer, Digest diffId, Digest chain, List<CompletableFuture<Path>> below,
                          BlobSource source, String what) {
        if (layer.mediaType() != null && layer.mediaType().contains("encrypted")) {
            throw new ImageException(ImageException.Reason.UNSUPPORTED, what + ": encrypted layers are not supported");
        }
        Digest blob = layer.parsedDigest();
        CompletableFuture<Void> download = null;
        BlobProgress progress = new BlobProgress();
        if (!content.contains(blob)) {
            // Download and unpack at once: the unpacker follows the ingest file as it grows.
            download = CompletableFuture.runAsync(() -> {
                try {
                    source.ensure(layer, progress);
                    progress.finish();
                } catch (RuntimeException | Error e) {
                    progress.fail(e);
                    throw e;
                }
            }, executor);
        }
        unpacks.acquireUninterruptibly();
        Path temp = snapshots.newTemp();
        long start = System.nanoTime();
        try {
            LayerUnpacker.Result r;
            if (download == null) {
                r = unpackFile(blob, temp, diffId, below, what);
            } else {
                try (InputStream in = progress.openTail(content.ingestPath(blob), content.path(blob))) {
                    r = LayerUnpacker.unpack(in, temp, diffId, () -> lowerDirs(below), what);
                } catch (RuntimeException | IOException e) {
                    // A failed download (e.g. a corrupt blob) explains an unpack failure best.
                    awaitDownload(download, what);
                    // The blob verified, so the verdict comes from it: the stream may have broken
                    // (restart, shared download, an earlier endpoint's bad bytes). Unpack it again.
                    LOG.info(what + ": streamed unpack failed (" + e.getMessage() + "); unpacking again from the verified blob");
                    snapshots.discard(temp);
                    temp = snapshots.newTemp();
                    r = unpackFile(blob, temp, diffId, below, what);
                }
                // Commit only once the blob itself is verified.
                awaitDownload(download, what);
            }
            snapshots.commit(temp, chain);
            // Start writeback now, while other layers still download, so the pull's final sync is short.
            Thread.ofPlatform().daemon().name("coracle-early-sync").start(() -> {
                try {
                    LayerUnpacker.syncfs(snapshots.dir());
                } catch (IOException e) {
                    LOG.fine(() -> "early sync failed: " + e.getMessage());
                }
            });
            LOG.info("layer unpacked chainId=" + chain + " digest=" + layer.digest() + " entries=" + r.entries()
                    + " tarBytes=" + r.tarBytes() + " ms=" + (System.nanoTime() - start) / 1_000_000);
            return snapshots.path(chain);
        } catch (IOException e) {
            snapshots.discard(temp);
            throw new ImageException(ImageException.Reason.IO, what + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            snapshots.discard(temp);
            if (download != null) {
                download.exceptionally(t -> null).join();
            }
            throw e;
        } finally {
            unpacks.release();
        }
    }

    private LayerUnpacker.Result unpackFile(Digest blob, Path temp, Digest diffId, List<CompletableFuture<Path>> below, String what)
            throws IOException {
        try (InputStream in = Files.newInputStream(content.path(blob))) {
            return LayerUnpacker.unpack(in, temp, diffId, () -> lowerDirs(below), what);
        }
    }

    private static void awaitDownload(CompletableFuture<Void> download, String what) {
        try {
            download.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof ImageException ie) {
                throw new ImageException(ie.reason(), ie.getMessage(), ie);
            }
            throw new ImageException(ImageException.Reason.IO, what + ": " + e.getCause(), e.getCause());
        }
    }

    /** Lower snapshots, top first; waits for the ones still being unpacked, without holding an unpack slot. */
    private List<Path> lowerDirs(List<CompletableFuture<Path>> below) {
        unpacks.release();
        try {
            List<Path> out = new ArrayList<>();
            for (int i = below.size() - 1; i >= 0; i--) {
                out.add(below.get(i).join());
            }
            return out;
        } finally {
            unpacks.acquireUninterruptibly();
        }
    }
}
