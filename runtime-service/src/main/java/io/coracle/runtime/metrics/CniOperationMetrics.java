package io.coracle.runtime.metrics;

import io.coracle.sandbox.CniTimings;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Locale;

/** {@code coracle_cni_operation_duration_seconds{op,result}}: op add or del, result success or failure. */
public final class CniOperationMetrics implements CniTimings {
    private final MeterRegistry registry;

    public CniOperationMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    @Override
    public void observe(String op, Duration took, boolean ok) {
        Timer.builder("coracle.cni.operation.duration")
                .description("CNI ADD and DEL of a pod's network, all plugins of the list")
                .tags("op", op.toLowerCase(Locale.ROOT), "result", ok ? "success" : "failure")
                .serviceLevelObjectives(LatencyBuckets.BOUNDS)
                .register(registry)
                .record(took);
    }
}
