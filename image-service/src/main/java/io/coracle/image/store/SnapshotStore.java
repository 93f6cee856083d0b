package io.coracle.image.store;

import io.coracle.sys.PrivateFiles;
import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import io.coracle.image.unpack.LayerUnpacker;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.logging.Logger;

/**
 * Unpacked layers under {@code <root>/snapshots/<chain-id-hex>}, one directory per chain ID, shared
 * by every image with that layer stack. A snapshot directory exists only once complete: layers are
 * unpacked into {@code snapshots/tmp-*} and renamed at the end.
 */
public final class SnapshotStore {
    private static final Logger LOG = Logger.getLogger(SnapshotStore.class.getName());
    private static final String TMP_PREFIX = "tmp-";

    private final Path dir;

    public SnapshotStore(Path root) {
        this.dir = root.resolve("snapshots");
        try {
            // 0700: no host user reaches into a layer (setuid binaries, files an image keeps from others).
            PrivateFiles.directory(dir);
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, TMP_PREFIX + "*")) {
                for (Path p : ds) {
                    LOG.info("removing incomplete snapshot " + p);
                    LayerUnpacker.deleteTree(p);
                }
            }
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot prepare snapshot dir " + dir + ": " + e.getMessage(), e);
        }
    }

    public Path dir() {
        return dir;
    }

    public Path path(Digest chainId) {
        return dir.resolve(chainId.hex());
    }

    public boolean exists(Digest chainId) {
        return Files.isDirectory(path(chainId));
    }

    /** A fresh, empty temporary directory to unpack into. */
    public Path newTemp() {
        try {
            Path p = dir.resolve(TMP_PREFIX + UUID.randomUUID());
            Files.createDirectory(p);
            return p;
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot create temp snapshot: " + e.getMessage(), e);
        }
    }

    /** Renames a finished temp dir into place; if another pull won the race, drops the temp dir. */
    public void commit(Path temp, Digest chainId) {
        try {
            if (exists(chainId)) {
                LayerUnpacker.deleteTree(temp);
                return;
            }
            Files.move(temp, path(chainId), StandardCopyOption.ATOMIC_MOVE);
            LOG.info("snapshot committed chainId=" + chainId);
        } catch (IOException e) {
            discard(temp);
            throw new ImageException(ImageException.Reason.IO, "cannot commit snapshot " + chainId + ": " + e.getMessage(), e);
        }
    }

    public void discard(Path temp) {
        try {
            LayerUnpacker.deleteTree(temp);
        } catch (IOException e) {
            LOG.warning("cannot remove temp snapshot " + temp + ": " + e.getMessage());
        }
    }

    /**
     * Flushes unpacked files to disk. Pulls call this once, before writing the image record: a
     * snapshot committed but not yet synced when the node loses power is referenced by no record,
     * and the collection at start-up removes it.
     */
    public void sync() {
        // syncfs blocks in native code for long; on a platform thread it pins no virtual-thread carrier.
        IOException[] failure = new IOException[1];
        Thread t = Thread.ofPlatform().name("coracle-syncfs").start(() -> {
            try {
                LayerUnpacker.syncfs(dir);
            } catch (IOException e) {
                failure[0] = e;
            }
        });
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ImageException(ImageException.Reason.IO, "interrupted while syncing snapshots", e);
        }
        if (failure[0] != null) {
            throw new ImageException(ImageException.Reason.IO, "cannot sync snapshots: " + failure[0].getMessage(), failure[0]);
        }
    }

    public Set<Digest> list() {
        Set<Digest> out = new HashSet<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (n.length() == 64 && !n.startsWith(TMP_PREFIX)) {
                    out.add(new Digest(n));
                }
            }
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot list snapshots: " + e.getMessage(), e);
        }
        return out;
    }

    public void delete(Digest chainId) {
        try {
            // Rename first so a crash mid-delete never leaves a half-empty snapshot under its chain ID.
            Path doomed = dir.resolve(TMP_PREFIX + "del-" + chainId.hex());
            Files.move(path(chainId), doomed, StandardCopyOption.ATOMIC_MOVE);
            LayerUnpacker.deleteTree(doomed);
            LOG.info("snapshot removed chainId=" + chainId);
        } catch (IOException e) {
            LOG.warning("cannot remove snapshot " + chainId + ": " + e.getMessage());
        }
    }

    /** Chain IDs per OCI: ChainID(L0)=DiffID(L0), ChainID(Ln)=sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
    public static List<Digest> chainIds(List<Digest> diffIds) {
        java.util.ArrayList<Digest> out = new java.util.ArrayList<>();
        Digest prev = null;
        for (Digest d : diffIds) {
            prev = prev == null ? d : Digest.of(prev + " " + d);
            out.add(prev);
        }
        return out;
    }
}
