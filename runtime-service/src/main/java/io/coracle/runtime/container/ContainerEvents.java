package io.coracle.runtime.container;

import io.coracle.cri.v1.ContainerEventResponse;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.PodSandboxStatus;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/** Fans container lifecycle events out to GetContainerEvents subscribers, in the order they happen. */
public final class ContainerEvents {
    private final List<Consumer<ContainerEventResponse>> subscribers = new CopyOnWriteArrayList<>();

    /** Adds a subscriber; the returned handle removes it. */
    public AutoCloseable subscribe(Consumer<ContainerEventResponse> subscriber) {
        subscribers.add(subscriber);
        return () -> subscribers.remove(subscriber);
    }

    public synchronized void publish(String containerId, ContainerEventType type, PodSandboxStatus pod,
                                     List<io.coracle.cri.v1.ContainerStatus> statuses) {
        ContainerEventResponse event = ContainerEventResponse.newBuilder()
                .setContainerId(containerId)
                .setContainerEventType(type)
                .setCreatedAt(System.currentTimeMillis() * 1_000_000L)
                .setPodSandboxStatus(pod == null ? PodSandboxStatus.getDefaultInstance() : pod)
                .addAllContainersStatuses(statuses)
                .build();
        for (Consumer<ContainerEventResponse> s : subscribers) {
            s.accept(event);
        }
    }
}
