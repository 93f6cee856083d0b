package io.coracle.sys;

import java.time.Duration;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

/**
 * Gives back to the system the heap the daemon grew and no longer uses. The serial collector grows
 * the old generation instead of collecting it when young collections promote (and with the daemon's
 * 4 MiB young generation, every burst promotes: the buffers of a pull, the objects of a churn of CRI
 * calls), and it shrinks the heap only in a full collection, which an idle daemon never runs: a
 * heap grown to 169 MiB by two pulls, 27 MiB of it live, stayed resident. Every {@link #PERIOD} the
 * daemon's instance checks: when the committed heap grew by {@code slack} since the last collection
 * and no pull is in flight, it asks for one full collection ({@code System.gc()}: milliseconds on this
 * heap), which returns the heap to MaxHeapFreeRatio at once ({@code -XX:-ShrinkHeapInSteps}). So the
 * heap stays within {@code slack} of what the last collection left, at the cost of at most one full
 * collection per period, and only while it grows.
 */
public final class HeapRelease {
    private static final Logger LOG = Logger.getLogger(HeapRelease.class.getName());
    static final Duration PERIOD = Duration.ofSeconds(2);
    private static final HeapRelease DAEMON = new HeapRelease(8L << 20, Runtime.getRuntime()::totalMemory, System::gc);

    private final long slack;
    private final LongSupplier committed;
    private final Runnable collect;
    private int inFlight; // guarded by this
    private long baseline; // guarded by this: the committed heap after the last collection, or its low since
    private boolean ticking; // guarded by this

    HeapRelease(long slack, LongSupplier committed, Runnable collect) {
        this.slack = slack;
        this.committed = committed;
        this.collect = collect;
        this.baseline = committed.getAsLong();
    }

    /** The JVM's instance: pulls report to it; {@link #startChecking()} makes it collect (the daemon does). */
    public static HeapRelease daemon() {
        return DAEMON;
    }

    /** Checks every {@link #PERIOD} from now on, on a virtual thread. */
    public synchronized void startChecking() {
        if (ticking) {
            return;
        }
        ticking = true;
        Thread.ofVirtual().name("heap-release").start(() -> {
            while (true) {
                try {
                    Thread.sleep(PERIOD);
                } catch (InterruptedException e) {
                    return;
                }
                check();
            }
        });
    }

    /** A pull (or import) started: no collection while one streams; call {@link #ended()} however it ends. */
    public synchronized void started() {
        inFlight++;
    }

    public synchronized void ended() {
        inFlight--;
    }

    /** Collects when no pull is in flight and the heap grew by the slack; true when it collected. */
    boolean check() {
        long before;
        synchronized (this) {
            before = committed.getAsLong();
            if (before < baseline) {
                baseline = before; // the collector shrank it by itself
            }
            if (inFlight > 0 || before - baseline < slack) {
                return false;
            }
        }
        collect.run();
        long after = committed.getAsLong();
        synchronized (this) {
            baseline = after;
        }
        LOG.fine(() -> "heap released: committed " + (before >> 20) + " MiB -> " + (after >> 20) + " MiB");
        return true;
    }
}
