package io.coracle.image.registry;

import io.coracle.cri.CriStatus;
import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import io.coracle.image.content.BlobProgress;
import io.coracle.image.content.ContentStore;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * Pulls one blob into the content store. Size and digest are checked here, where the bytes are
 * read; a broken connection resumes with {@code Range} when the registry allows it.
 */
final class BlobPuller {
    private static final Logger LOG = Logger.getLogger(BlobPuller.class.getName());
    private static final int BUFFER = 1 << 20;
    /** Closes response bodies that stopped delivering bytes, so the read fails and the pull resumes. */
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "coracle-blob-watchdog");
        t.setDaemon(true);
        return t;
    });

    private final RegistryTransport transport;
    private final PullProgress pullProgress;

    BlobPuller(RegistryTransport transport, PullProgress pullProgress) {
        this.transport = transport;
        this.pullProgress = pullProgress;
    }

    void pull(RegistryEndpoint endpoint, String repository, Digest digest, long size, Credentials creds, ContentStore store,
              BlobProgress progress) {
        String action = "pull blob " + endpoint.registry() + "/" + repository + "@" + digest + " from " + endpoint;
        Path partial = store.ingestPath(digest);
        try (PullProgress.Tracker tracker = pullProgress.start(endpoint.registry() + "/" + repository, digest.toString(), size)) {
            pull(endpoint, repository, digest, size, creds, store, progress, partial, action, tracker);
        }
    }

    private void pull(RegistryEndpoint endpoint, String repository, Digest digest, long size, Credentials creds, ContentStore store,
                      BlobProgress progress, Path partial, String action, PullProgress.Tracker tracker) {
        int attempt = 0;
        while (true) {
            try {
                if (fetchOnce(endpoint, repository, digest, size, creds, partial, action, progress, tracker)) {
                    store.commitVerified(partial, digest);
                    return;
                }
            } catch (IOException e) {
                if (CriStatus.noSpace(e) != null) {
                    // The node's disk, not the transfer: no retry helps; the failed pull's collection drops the partial.
                    throw new ImageException(ImageException.Reason.IO, action + ": writing " + partial + ": " + e.getMessage(), e);
                }
                if (attempt >= transport.maxRetries()) {
                    throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": " + e + " (after " + attempt + " retries)", e);
                }
                attempt++;
                LOG.info(action + ": broken transfer (" + e + "), resuming, retry " + attempt + "/" + transport.maxRetries());
                transport.pause(attempt);
            } catch (ImageException e) {
                if (e.reason() == ImageException.Reason.DIGEST_MISMATCH) {
                    deleteQuietly(partial);
                }
                throw e;
            }
        }
    }

    /** One GET; returns true when {@code partial} holds the complete, verified blob. */
    private boolean fetchOnce(RegistryEndpoint endpoint, String repository, Digest digest, long size, Credentials creds,
                              Path partial, String action, BlobProgress progress, PullProgress.Tracker tracker) throws IOException {
        long offset = Files.exists(partial) ? Files.size(partial) : 0;
        if (size >= 0 && offset > size) {
            Files.delete(partial);
            offset = 0;
        }
        Map<String, String> headers = offset > 0 ? Map.of("Range", "bytes=" + offset + "-") : Map.of();
        HttpResponse<InputStream> r = transport.get(endpoint, repository, "/v2/" + repository + "/blobs/" + digest, headers, creds, action, true);
        try (InputStream in = r.body()) {
            int code = r.statusCode();
            if (code == 404) {
                throw new ImageException(ImageException.Reason.NOT_FOUND, action + ": blob unknown");
            }
            if (code == 416 && offset > 0) {
                // The partial may already be complete, else start over.
                if (offset == size && verifyFile(partial, digest)) {
                    return true;
                }
                Files.delete(partial);
                return false;
            }
            if (code == 200) {
                offset = 0;
            } else if (code == 206) {
                long start = r.headers().firstValue("Content-Range").map(BlobPuller::rangeStart).orElse(-1L);
                if (start != offset) {
                    Files.delete(partial);
                    return false;
                }
            } else {
                throw new ImageException(code >= 500 ? ImageException.Reason.UNAVAILABLE : ImageException.Reason.INVALID_ARGUMENT,
                        action + ": registry answered " + code);
            }
            if (offset == 0) {
                progress.restart();
            }
            MessageDigest md = Digest.sha256();
            if (offset > 0) {
                hashFile(partial, md);
                LOG.info(action + ": resuming at byte " + offset);
            }
            long total = offset;
            AtomicLong lastProgress = new AtomicLong(System.nanoTime());
            AtomicBoolean stalled = new AtomicBoolean();
            long stallNanos = transport.timeout().toNanos();
            Thread reader = Thread.currentThread();
            Object guard = new Object();
            boolean[] done = {false};
            ScheduledFuture<?> watch = WATCHDOG.scheduleWithFixedDelay(() -> {
                if (System.nanoTime() - lastProgress.get() <= stallNanos) {
                    return;
                }
                synchronized (guard) {
                    // Never interrupt a reader that has already finished with this response.
                    if (done[0] || !stalled.compareAndSet(false, true)) {
                        return;
                    }
                    LOG.info(action + ": no bytes for " + transport.timeout().toSeconds() + " s, dropping the connection");
                    tracker.stalled();
                    reader.interrupt(); // a reader blocked waiting for the next buffer wakes up with an IOException
                }
                try {
                    in.close();
                } catch (IOException ignored) {
                    // the reader fails either way
                }
            }, stallNanos / 4, stallNanos / 4, TimeUnit.NANOSECONDS);
            try {
                try (FileChannel out = FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        offset > 0 ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
                    byte[] buf = new byte[BUFFER];
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        total += n;
                        if (size >= 0 && total > size) {
                            throw new ImageException(ImageException.Reason.DIGEST_MISMATCH, action + ": more than the expected " + size + " bytes");
                        }
                        lastProgress.set(System.nanoTime());
                        md.update(buf, 0, n);
                        ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                        while (bb.hasRemaining()) {
                            out.write(bb);
                        }
                        progress.advance(total);
                        tracker.advance(total);
                    }
                }
            } catch (IOException e) {
                throw stalled.get() ? new IOException("stalled after " + total + " bytes", e) : e;
            } finally {
                watch.cancel(false);
                synchronized (guard) {
                    done[0] = true;
                }
                if (stalled.get()) {
                    Thread.interrupted(); // clear the watchdog's interrupt (issued before done) before retrying
                }
            }
            if (size >= 0 && total < size) {
                throw new IOException("connection ended after " + total + " of " + size + " bytes");
            }
            Digest actual = Digest.of(md);
            if (!actual.equals(digest)) {
                throw new ImageException(ImageException.Reason.DIGEST_MISMATCH, action + ": received content has digest " + actual);
            }
            return true;
        }
    }

    private static boolean verifyFile(Path p, Digest d) throws IOException {
        MessageDigest md = Digest.sha256();
        hashFile(p, md);
        return Digest.of(md).equals(d);
    }

    private static void hashFile(Path p, MessageDigest md) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            byte[] buf = new byte[BUFFER];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
        }
    }

    /** Start of {@code bytes START-END/TOTAL}, or -1. */
    private static long rangeStart(String contentRange) {
        try {
            String s = contentRange.trim();
            if (s.startsWith("bytes ")) {
                s = s.substring(6);
            }
            return Long.parseLong(s.substring(0, s.indexOf('-')).trim());
        } catch (RuntimeException e) {
            return -1;
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort
        }
    }
}
