package io.coracle.runtime.metrics;

import io.coracle.runtime.container.ContainerEvents;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * GetContainerEvents subscribers: {@code coracle_event_subscribers}, {@code coracle_event_queued}
 * (events waiting in their queues) and {@code coracle_event_subscribers_dropped_total} (dropped for lagging).
 */
final class ContainerEventMetrics {
    private ContainerEventMetrics() {
    }

    static void register(MeterRegistry registry, ContainerEvents events) {
        Gauge.builder("coracle.event.subscribers", events, ContainerEvents::subscribers)
                .description("Open GetContainerEvents streams").register(registry);
        Gauge.builder("coracle.event.queued", events, ContainerEvents::queued)
                .description("Events queued for GetContainerEvents subscribers, over all of them").register(registry);
        FunctionCounter.builder("coracle.event.subscribers.dropped", events, ContainerEvents::droppedSubscribers)
                .description("GetContainerEvents subscribers dropped for falling too far behind").register(registry);
    }
}
