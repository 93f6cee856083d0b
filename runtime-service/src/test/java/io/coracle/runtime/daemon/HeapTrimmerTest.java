package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class HeapTrimmerTest {
    private static final long MIB = 1 << 20;

    @Test
    void collectsOnlyOnceTheHeapGrewBySlackSinceTheLastCollection() {
        AtomicLong committed = new AtomicLong(10 * MIB);
        AtomicInteger collections = new AtomicInteger();
        try (HeapTrimmer trimmer = new HeapTrimmer(Duration.ofHours(1), 4 * MIB, committed::get, () -> {
            collections.incrementAndGet();
            committed.set(12 * MIB); // what the collection left
        })) {
            committed.set(13 * MIB);
            assertFalse(trimmer.check(), "3 MiB of growth is within the slack");
            committed.set(14 * MIB);
            assertTrue(trimmer.check());
            assertEquals(1, collections.get());
            committed.set(15 * MIB); // 3 MiB over what the collection left: no second one
            assertFalse(trimmer.check());
            committed.set(16 * MIB);
            assertTrue(trimmer.check());
            assertEquals(2, collections.get());
        }
    }

    @Test
    void aHeapThatShrankByItselfLowersTheBaseline() {
        AtomicLong committed = new AtomicLong(20 * MIB);
        AtomicInteger collections = new AtomicInteger();
        try (HeapTrimmer trimmer = new HeapTrimmer(Duration.ofHours(1), 4 * MIB, committed::get,
                collections::incrementAndGet)) {
            committed.set(10 * MIB); // a full collection of the JVM's own
            assertFalse(trimmer.check());
            committed.set(14 * MIB);
            assertTrue(trimmer.check(), "grew by the slack since it shrank");
            assertEquals(1, collections.get());
        }
    }
}
