package io.coracle.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class HeapReleaseTest {
    private static final long MIB = 1 << 20;

    private final AtomicLong committed = new AtomicLong(10 * MIB);
    private final AtomicInteger collections = new AtomicInteger();
    private final HeapRelease release = new HeapRelease(8 * MIB, committed::get, () -> {
        collections.incrementAndGet();
        committed.set(12 * MIB); // what the collection left
    });

    @Test
    void collectsOnceTheHeapGrewByTheSlackAndMeasuresFromWhatTheCollectionLeft() {
        committed.set(17 * MIB);
        assertFalse(release.check(), "7 MiB over the start: under the slack");
        committed.set(60 * MIB);
        assertTrue(release.check());
        assertEquals(12 * MIB, committed.get());
        committed.set(19 * MIB); // 7 MiB over what the collection left
        assertFalse(release.check());
        committed.set(20 * MIB);
        assertTrue(release.check());
        assertEquals(2, collections.get());
    }

    @Test
    void noCollectionWhileAPullStreamsThenOneAfterTheLastEnds() {
        release.started();
        release.started();
        committed.set(150 * MIB);
        assertFalse(release.check());
        release.ended();
        assertFalse(release.check(), "one pull still in flight");
        release.ended();
        assertTrue(release.check());
        assertFalse(release.check(), "nothing grew since");
        assertEquals(1, collections.get());
    }

    @Test
    void aHeapTheCollectorShrankItselfIsTheNewBaseline() {
        committed.set(6 * MIB); // a full collection of the JVM's own
        assertFalse(release.check());
        committed.set(14 * MIB); // 8 MiB over that low
        assertTrue(release.check());
    }
}
