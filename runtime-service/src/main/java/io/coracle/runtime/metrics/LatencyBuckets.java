package io.coracle.runtime.metrics;

import java.time.Duration;

/** The histogram buckets of every Coracle latency: 1 ms to 2 min, a fixed set so series stay few. */
final class LatencyBuckets {
    static final Duration[] BOUNDS = {
            Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25),
            Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500),
            Duration.ofSeconds(1), Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10),
            Duration.ofSeconds(30), Duration.ofSeconds(60), Duration.ofSeconds(120)};

    private LatencyBuckets() {
    }
}
