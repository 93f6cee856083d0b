package io.coracle.image.registry;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * What pulls are doing right now, for metrics and the debug log (the kubelet only shows "Pulling"):
 * pulls in flight, each blob download's bytes, bytes downloaded in all, and stalls (a download that
 * delivered nothing for the request timeout; it is dropped and resumed, or fails after the retries).
 */
public final class PullProgress {
    private static final Logger LOG = Logger.getLogger(PullProgress.class.getName());
    private static final long LOG_EVERY_NANOS = 2_000_000_000L;

    /** One blob download in flight. */
    public record Download(String image, String digest, long size, long done) {
    }

    private final AtomicInteger pulls = new AtomicInteger();
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong stalls = new AtomicLong();
    private final Map<Tracker, Boolean> downloads = new ConcurrentHashMap<>();

    public void pullStarted() {
        pulls.incrementAndGet();
    }

    public void pullEnded() {
        pulls.decrementAndGet();
    }

    public int pullsInFlight() {
        return pulls.get();
    }

    public long bytesDownloaded() {
        return bytes.get();
    }

    public long stalls() {
        return stalls.get();
    }

    public List<Download> downloads() {
        List<Download> out = new ArrayList<>();
        downloads.keySet().forEach(t -> out.add(new Download(t.image, t.digest, t.size, t.done.get())));
        return out;
    }

    Tracker start(String image, String digest, long size) {
        Tracker t = new Tracker(image, digest, size);
        downloads.put(t, Boolean.TRUE);
        LOG.fine(() -> "pull progress image=" + image + " blob=" + digest + " started size=" + size);
        return t;
    }

    /** Progress of one blob download; closing it removes it from the in-flight list. */
    final class Tracker implements AutoCloseable {
        final String image;
        final String digest;
        final long size;
        final AtomicLong done = new AtomicLong();
        private long lastLog = System.nanoTime();

        Tracker(String image, String digest, long size) {
            this.image = image;
            this.digest = digest;
            this.size = size;
        }

        /** {@code total} bytes of the blob are here (a resumed download starts at its offset). */
        void advance(long total) {
            long before = done.getAndSet(total);
            if (total > before) {
                bytes.addAndGet(total - before);
            }
            long now = System.nanoTime();
            if (now - lastLog >= LOG_EVERY_NANOS && LOG.isLoggable(Level.FINE)) {
                lastLog = now;
                LOG.fine("pull progress image=" + image + " blob=" + digest + " bytes=" + total + "/" + size);
            }
        }

        void stalled() {
            stalls.incrementAndGet();
            LOG.fine(() -> "pull progress image=" + image + " blob=" + digest + " stalled at bytes=" + done.get() + "/" + size);
        }

        @Override
        public void close() {
            downloads.remove(this);
            LOG.fine(() -> "pull progress image=" + image + " blob=" + digest + " ended bytes=" + done.get() + "/" + size);
        }
    }
}
