package io.coracle.image;

import java.time.Duration;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

/**
 * Gives back the heap a burst of pulls grew. A download streams hundreds of MB through 256 KiB and
 * 1 MiB buffers; with the daemon's 4 MiB young generation, the buffers in flight at each young
 * collection are promoted, so the serial collector grows the old generation to the heap's maximum
 * with garbage (measured: 10 MiB committed before two cold pulls of a 190 MB image, 169 MiB after,
 * 27 MiB live). An idle daemon never collects again, so that heap stayed resident. When the last pull
 * in flight ends and none starts for {@code quiet}, and the committed heap grew by at least
 * {@code slack} during the burst, this asks for one full collection ({@code System.gc()}: tens of ms
 * on this heap), which returns the heap to MaxHeapFreeRatio at once as jvm.options sets
 * {@code -XX:-ShrinkHeapInSteps}. Pulls are rare: no collection per call, as a busy daemon's calls
 * would stall.
 */
public final class PullHeapRelease {
    private static final Logger LOG = Logger.getLogger(PullHeapRelease.class.getName());

    private final Duration quiet;
    private final long slack;
    private final LongSupplier committed;
    private final Runnable collect;
    private int inFlight;
    /** Bumped by every pull start: a check scheduled before it stands down. */
    private long generation;
    private long committedAtStart;

    PullHeapRelease(Duration quiet, long slack, LongSupplier committed, Runnable collect) {
        this.quiet = quiet;
        this.slack = slack;
        this.committed = committed;
        this.collect = collect;
    }

    /** The daemon's: 2 s after the last pull, once the heap grew by 16 MiB during the burst. */
    static PullHeapRelease forDaemon() {
        return new PullHeapRelease(Duration.ofSeconds(2), 16L << 20, Runtime.getRuntime()::totalMemory, System::gc);
    }

    /** Marks a pull (or import) started; call {@link #ended()} when it ends, however it ends. */
    public synchronized void started() {
        if (inFlight++ == 0) { // a burst starts, or resumes before the last one's check ran (keep its baseline)
            long now = committed.getAsLong();
            committedAtStart = committedAtStart == 0 ? now : Math.min(committedAtStart, now);
        }
        generation++;
    }

    public void ended() {
        long mine;
        synchronized (this) {
            if (--inFlight > 0) {
                return;
            }
            mine = generation;
        }
        Thread.ofVirtual().name("pull-heap-release").start(() -> {
            try {
                Thread.sleep(quiet);
            } catch (InterruptedException e) {
                return;
            }
            check(mine);
        });
    }

    /** Collects when no pull started since {@code expected} and the heap grew by the slack; true when it collected. */
    boolean check(long expected) {
        long before;
        synchronized (this) {
            if (inFlight > 0 || generation != expected) {
                return false;
            }
            before = committed.getAsLong();
            if (before - committedAtStart < slack) {
                committedAtStart = 0;
                return false;
            }
            committedAtStart = 0;
        }
        collect.run();
        long after = committed.getAsLong();
        LOG.fine(() -> "heap after pulls: committed " + (before >> 20) + " MiB -> " + (after >> 20) + " MiB");
        return true;
    }

    /** The generation a check scheduled now would expect (tests). */
    synchronized long generation() {
        return generation;
    }
}
