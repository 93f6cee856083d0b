package io.coracle.runtime.metrics;

import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;

/**
 * Times every CRI call: {@code coracle_cri_request_duration_seconds{method,code}}, and counts the
 * failed ones in {@code coracle_cri_request_errors_total{method,code}}.
 */
public final class CriCallMetrics extends CallOutcomeInterceptor {
    private final MeterRegistry registry;

    public CriCallMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    @Override
    protected void closed(MethodDescriptor<?, ?> method, Status status, long nanos) {
        record(method.getBareMethodName(), status.getCode(), nanos);
    }

    void record(String method, Status.Code code, long nanos) {
        Timer.builder("coracle.cri.request.duration")
                .description("CRI calls by method and gRPC status code")
                .tags("method", method, "code", code.name())
                .serviceLevelObjectives(LatencyBuckets.BOUNDS)
                .register(registry)
                .record(nanos, TimeUnit.NANOSECONDS);
        if (code != Status.Code.OK) {
            Counter.builder("coracle.cri.request.errors")
                    .description("CRI calls that ended with a status other than OK")
                    .tags("method", method, "code", code.name())
                    .register(registry)
                    .increment();
        }
    }
}
