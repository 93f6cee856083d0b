package io.coracle.runtime.daemon;

import java.time.Duration;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

/**
 * Gives back the heap a burst of calls grew. The serial collector grows the heap under load and
 * shrinks it (to MaxHeapFreeRatio) only in a full collection, which an idle daemon never needs: after
 * a churn of pods the committed heap stayed twice its start-up size. Every {@code period} this checks
 * the committed heap; when it has grown by {@code slack} since the last full collection, it asks for
 * one ({@code System.gc()}: tens of milliseconds on this heap), after which the JVM's periodic native
 * trim (TrimNativeHeapInterval) returns the freed malloc memory too. Runs on a virtual thread.
 */
final class HeapTrimmer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(HeapTrimmer.class.getName());

    private final LongSupplier committed;
    private final Runnable collect;
    private final long slack;
    private long baseline;
    private final Thread thread;

    HeapTrimmer(Duration period, long slack, LongSupplier committed, Runnable collect) {
        this.committed = committed;
        this.collect = collect;
        this.slack = slack;
        this.baseline = committed.getAsLong();
        this.thread = Thread.ofVirtual().name("heap-trimmer").start(() -> {
            try {
                while (true) {
                    Thread.sleep(period);
                    check();
                }
            } catch (InterruptedException e) {
                // closed
            }
        });
    }

    /** The daemon's: every 30 s, a full collection once the heap grew by 4 MiB. */
    static HeapTrimmer start() {
        Runtime rt = Runtime.getRuntime();
        return new HeapTrimmer(Duration.ofSeconds(30), 4L << 20, rt::totalMemory, System::gc);
    }

    /** One check; true when it collected. */
    boolean check() {
        long now = committed.getAsLong();
        if (now - baseline < slack) {
            baseline = Math.min(baseline, now);
            return false;
        }
        collect.run();
        long after = committed.getAsLong();
        LOG.fine(() -> "heap trimmed: committed " + (now >> 10) + " KiB -> " + (after >> 10) + " KiB");
        baseline = after;
        return true;
    }

    @Override
    public void close() {
        thread.interrupt();
    }
}
