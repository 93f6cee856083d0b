package io.coracle.image.content;

import io.coracle.sys.PrivateFiles;
import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.logging.Logger;

/**
 * Content-addressed blobs under {@code <root>/blobs/sha256/<hex>}. Bytes land in {@code ingest/},
 * are fsynced and verified, then renamed in: a blob whose digest does not match is never committed.
 */
public final class ContentStore {
    private static final Logger LOG = Logger.getLogger(ContentStore.class.getName());

    private final Path blobs;
    private final Path ingest;

    public ContentStore(Path root) {
        this.blobs = root.resolve("blobs").resolve("sha256");
        this.ingest = root.resolve("ingest");
        try {
            PrivateFiles.directory(root.resolve("blobs"));
            PrivateFiles.directory(blobs);
            PrivateFiles.directory(ingest);
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot create content store under " + root + ": " + e.getMessage(), e);
        }
    }

    public Path path(Digest d) {
        return blobs.resolve(d.hex());
    }

    public boolean contains(Digest d) {
        return Files.isRegularFile(path(d));
    }

    public long size(Digest d) {
        try {
            return Files.size(path(d));
        } catch (IOException e) {
            return -1;
        }
    }

    public byte[] read(Digest d) {
        try {
            return Files.readAllBytes(path(d));
        } catch (NoSuchFileException e) {
            throw new ImageException(ImageException.Reason.NOT_FOUND, "blob " + d + " is not in the content store");
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot read blob " + d + ": " + e.getMessage(), e);
        }
    }

    /** The partial-download file for a digest; BlobPuller resumes from its length. */
    public Path ingestPath(Digest d) {
        return ingest.resolve(d.hex() + ".partial");
    }

    /** A fresh temp file for content whose digest is not known in advance. */
    public Path newIngestPath() {
        return ingest.resolve(UUID.randomUUID() + ".tmp");
    }

    /**
     * Commits an ingest file after the caller verified size and digest while reading the bytes:
     * fsync, atomic rename into place, fsync of the blobs dir ({@link PrivateFiles#commit}).
     */
    public void commitVerified(Path temp, Digest d) {
        try {
            PrivateFiles.commit(temp, path(d), true);
            LOG.fine(() -> "blob committed digest=" + d);
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot commit blob " + d + ": " + e.getMessage(), e);
        }
    }

    /** Writes bytes whose digest must equal {@code expected}. */
    public void write(Digest expected, byte[] bytes) {
        Digest actual = Digest.of(bytes);
        if (!actual.equals(expected)) {
            throw new ImageException(ImageException.Reason.DIGEST_MISMATCH, "content " + actual + " does not match expected digest " + expected);
        }
        if (contains(expected)) {
            return;
        }
        Path temp = newIngestPath();
        try {
            Files.write(temp, bytes);
            commitVerified(temp, expected);
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot write blob " + expected + ": " + e.getMessage(), e);
        } finally {
            deleteQuietly(temp);
        }
    }

    /** Stores a stream, verifying digest (and size when >= 0) if {@code expected} is given; returns the digest. */
    public Digest write(InputStream in, Digest expected, long expectedSize) {
        Path temp = newIngestPath();
        try {
            MessageDigest md = Digest.sha256();
            long n;
            try (InputStream din = new DigestInputStream(in, md); OutputStream out = Files.newOutputStream(temp)) {
                n = din.transferTo(out);
            }
            Digest actual = Digest.of(md);
            if (expected != null && !actual.equals(expected)) {
                throw new ImageException(ImageException.Reason.DIGEST_MISMATCH, "content " + actual + " does not match expected digest " + expected);
            }
            if (expectedSize >= 0 && n != expectedSize) {
                throw new ImageException(ImageException.Reason.DIGEST_MISMATCH, "content " + actual + " has " + n + " bytes, expected " + expectedSize);
            }
            if (!contains(actual)) {
                commitVerified(temp, actual);
            }
            return actual;
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot store content: " + e.getMessage(), e);
        } finally {
            deleteQuietly(temp);
        }
    }

    public Set<Digest> list() {
        Set<Digest> out = new HashSet<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(blobs)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                if (name.length() == 64) {
                    out.add(new Digest(name));
                }
            }
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot list blobs: " + e.getMessage(), e);
        }
        return out;
    }

    public void delete(Digest d) {
        deleteQuietly(path(d));
        deleteQuietly(ingestPath(d));
        LOG.fine(() -> "blob deleted digest=" + d);
    }

    /**
     * Removes partial downloads whose digest is not in {@code keep} (the blobs of pulls in flight);
     * returns how many. Within one daemon's life a retried pull resumes its partials; after a
     * restart no pull holds them, and a pull starts over.
     */
    public int deletePartialsExcept(Set<String> keep) {
        int n = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(ingest, "*.partial")) {
            for (Path p : ds) {
                String hex = p.getFileName().toString().replace(".partial", "");
                if (!keep.contains("sha256:" + hex)) {
                    deleteQuietly(p);
                    n++;
                }
            }
        } catch (IOException e) {
            LOG.warning("cannot clean ingest dir " + ingest + ": " + e.getMessage());
        }
        return n;
    }

    /** Drops leftovers of interrupted writes (partials are the collection's: {@link #deletePartialsExcept}). */
    public void cleanIngest() {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(ingest, "*.tmp")) {
            for (Path p : ds) {
                deleteQuietly(p);
            }
        } catch (IOException e) {
            LOG.warning("cannot clean ingest dir " + ingest + ": " + e.getMessage());
        }
    }

    static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort cleanup
        }
    }
}
