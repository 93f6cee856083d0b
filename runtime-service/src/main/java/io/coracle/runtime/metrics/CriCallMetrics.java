package io.coracle.runtime.metrics;

import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Times every CRI call: {@code coracle_cri_request_duration_seconds{method,code}}, and counts the
 * failed ones in {@code coracle_cri_request_errors_total{method,code}}.
 */
public final class CriCallMetrics extends CallOutcomeInterceptor {
    private final MeterRegistry registry;
    /** The meters of each method and code, built once: building and registering one per call showed in profiles. */
    private final Map<String, Map<Status.Code, Meters>> meters = new ConcurrentHashMap<>();

    private record Meters(Timer duration, Counter errors) {}

    public CriCallMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    @Override
    protected void closed(MethodDescriptor<?, ?> method, Status status, long nanos) {
        record(method.getBareMethodName(), status.getCode(), nanos);
    }

    void record(String method, Status.Code code, long nanos) {
        Meters m = meters.computeIfAbsent(method, k -> new ConcurrentHashMap<>()).computeIfAbsent(code,
                k -> register(method, code));
        m.duration().record(nanos, TimeUnit.NANOSECONDS);
        if (m.errors() != null) {
            m.errors().increment();
        }
    }

    private Meters register(String method, Status.Code code) {
        Timer duration = Timer.builder("coracle.cri.request.duration")
                .description("CRI calls by method and gRPC status code")
                .tags("method", method, "code", code.name())
                .serviceLevelObjectives(LatencyBuckets.BOUNDS)
                .register(registry);
        Counter errors = code == Status.Code.OK ? null : Counter.builder("coracle.cri.request.errors")
                .description("CRI calls that ended with a status other than OK")
                .tags("method", method, "code", code.name())
                .register(registry);
        return new Meters(duration, errors);
    }
}
