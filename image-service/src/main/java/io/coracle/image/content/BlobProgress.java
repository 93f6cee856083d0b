package io.coracle.image.content;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Progress of one blob download, so a layer can be unpacked while its bytes arrive. The reader
 * ({@link #openTail}) follows the growing ingest file; if the download restarts from zero, is
 * shared with another pull, or fails, the reader gets an IOException and the caller unpacks from
 * the committed blob instead. Nothing read this way is trusted: the snapshot is committed only after
 * the blob's digest and the layer's diff ID both check out.
 */
public final class BlobProgress {
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private long written;
    private int generation;
    private boolean finished;
    private boolean abandoned;
    private Throwable failure;

    /** The download (re)starts from byte 0: readers of the earlier bytes must give up. */
    public void restart() {
        update(() -> {
            generation++;
            written = 0;
        });
    }

    public void advance(long total) {
        update(() -> written = total);
    }

    public void finish() {
        update(() -> finished = true);
    }

    /** The bytes will not be streamed here (already stored, or another pull downloads them). */
    public void abandon() {
        update(() -> abandoned = true);
    }

    public void fail(Throwable t) {
        update(() -> failure = t);
    }

    private void update(Runnable r) {
        lock.lock();
        try {
            r.run();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** A stream over the blob as it is written to {@code partial} (or already renamed to {@code committed}). */
    public InputStream openTail(Path partial, Path committed) {
        return new InputStream() {
            private FileChannel ch;
            private long pos;
            private int gen = -1;

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) {
                    return 0;
                }
                long avail = await();
                if (avail < 0) {
                    return -1;
                }
                if (ch == null) {
                    try {
                        ch = FileChannel.open(partial, StandardOpenOption.READ);
                    } catch (NoSuchFileException e) {
                        ch = FileChannel.open(committed, StandardOpenOption.READ);
                    }
                }
                int n = ch.read(ByteBuffer.wrap(b, off, (int) Math.min(len, avail)), pos);
                if (n > 0) {
                    pos += n;
                }
                return n;
            }

            /** Bytes available beyond pos, -1 at the end; throws when streaming is off. */
            private long await() throws IOException {
                lock.lock();
                try {
                    while (true) {
                        if (gen == -1 && generation > 0) {
                            gen = generation;
                        }
                        if (abandoned || failure != null || (gen != -1 && gen != generation) || (finished && gen == -1)) {
                            throw new IOException("blob is not streamable any more");
                        }
                        if (gen != -1 && written > pos) {
                            return written - pos;
                        }
                        if (finished && gen != -1) {
                            return -1;
                        }
                        changed.awaitUninterruptibly();
                    }
                } finally {
                    lock.unlock();
                }
            }

            @Override
            public void close() throws IOException {
                if (ch != null) {
                    ch.close();
                }
            }
        };
    }
}
