package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class PullHeapReleaseTest {
    private static final long MIB = 1 << 20;

    private final AtomicLong committed = new AtomicLong(10 * MIB);
    private final AtomicInteger collections = new AtomicInteger();

    private PullHeapRelease release(Duration quiet) {
        return new PullHeapRelease(quiet, 16 * MIB, committed::get, () -> {
            collections.incrementAndGet();
            committed.set(12 * MIB); // what the collection left
        });
    }

    @Test
    void collectsOnceWhenTheLastPullEndsAndTheHeapGrewDuringTheBurst() throws Exception {
        CountDownLatch collected = new CountDownLatch(1);
        PullHeapRelease r = new PullHeapRelease(Duration.ofMillis(50), 16 * MIB, committed::get, () -> {
            collections.incrementAndGet();
            committed.set(12 * MIB);
            collected.countDown();
        });
        r.started();
        r.started();
        committed.set(150 * MIB);
        r.ended(); // one pull still in flight: nothing scheduled
        Thread.sleep(200);
        assertEquals(0, collections.get());
        r.ended();
        assertTrue(collected.await(10, TimeUnit.SECONDS), "no collection after the last pull ended");
        Thread.sleep(200);
        assertEquals(1, collections.get());
        assertEquals(12 * MIB, committed.get());
    }

    @Test
    void aPullStartedDuringTheQuietTimeDefersTheCollection() {
        PullHeapRelease r = release(Duration.ofHours(1));
        r.started();
        committed.set(150 * MIB);
        long first = r.generation();
        r.started(); // the next pull, before the first one's check
        assertFalse(r.check(first), "a pull is in flight");
        r.ended();
        r.ended();
        assertFalse(r.check(first), "a pull started after this check was scheduled");
        assertTrue(r.check(r.generation()), "the burst's baseline (10 MiB) survives the deferral");
        assertEquals(1, collections.get());
    }

    @Test
    void noCollectionAfterPullsThatGrewTheHeapByLessThanTheSlack() {
        PullHeapRelease r = release(Duration.ofHours(1));
        r.started();
        committed.set(25 * MIB);
        r.ended();
        assertFalse(r.check(r.generation()));
        // The next burst measures from its own start, not from the earlier one.
        r.started();
        committed.set(40 * MIB);
        r.ended();
        assertFalse(r.check(r.generation()));
        assertEquals(0, collections.get());
    }
}
