package io.coracle.runtime.container;

import io.coracle.cri.v1.ContainerEventResponse;
import io.coracle.cri.v1.ContainerEventType;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/** Fans container lifecycle events out to GetContainerEvents subscribers, in the order they happen. */
public final class ContainerEvents {
    /** Adds the pod's and the containers' statuses to an event, as the kubelet's evented PLEG wants them. */
    @FunctionalInterface
    public interface Details {
        void fill(ContainerEventResponse.Builder event, String containerId, String podId);
    }

    private final List<Consumer<ContainerEventResponse>> subscribers = new CopyOnWriteArrayList<>();
    private volatile Details details = (event, containerId, podId) -> { };

    public void setDetails(Details details) {
        this.details = details;
    }

    /** Adds a subscriber; the returned handle removes it. */
    public Runnable subscribe(Consumer<ContainerEventResponse> subscriber) {
        subscribers.add(subscriber);
        return () -> subscribers.remove(subscriber);
    }

    public synchronized void publish(String containerId, String podId, ContainerEventType type) {
        if (subscribers.isEmpty()) {
            return;
        }
        ContainerEventResponse.Builder event = ContainerEventResponse.newBuilder()
                .setContainerId(containerId)
                .setContainerEventType(type)
                .setCreatedAt(System.currentTimeMillis() * 1_000_000L);
        try {
            details.fill(event, containerId, podId);
        } catch (RuntimeException e) {
            // An event without details is still worth delivering.
        }
        ContainerEventResponse built = event.build();
        for (Consumer<ContainerEventResponse> s : subscribers) {
            s.accept(built);
        }
    }
}
