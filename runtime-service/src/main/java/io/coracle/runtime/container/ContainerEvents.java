package io.coracle.runtime.container;

import io.coracle.cri.v1.ContainerEventResponse;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.PodSandboxStatus;
import io.coracle.cri.CriError;
import io.grpc.stub.ServerCallStreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * GetContainerEvents: container and pod sandbox lifecycle events (a sandbox's carry its id as the
 * container id), each with the pod's status and the statuses of all the pod's containers, as the
 * kubelet's evented PLEG reads them. Publishing never waits for a subscriber: every subscriber has
 * its own bounded queue ({@link EventSubscriber}). Events published while nobody subscribes (at
 * start-up: the exits recovery found) are held, at most {@code capacity} of them for at most
 * {@link #HOLD}, and handed to the next subscriber, as containerd does for the kubelet that
 * reconnects after a restart.
 */
public final class ContainerEvents implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ContainerEvents.class.getName());
    static final Duration HOLD = Duration.ofMinutes(5);

    /** What an event says of its pod: the sandbox's status and its containers' statuses, now. */
    public interface PodView {
        Optional<PodSandboxStatus> podStatus(String podId);

        List<ContainerStatus> containerStatuses(String podId);
    }

    private record Held(long atNanos, ContainerEventResponse event) {}

    private final int capacity;
    private final Executor drains = Executors.newVirtualThreadPerTaskExecutor();
    private final Object lock = new Object();
    private final List<EventSubscriber> subscribers = new ArrayList<>(); // guarded by lock
    private final ArrayDeque<Held> held = new ArrayDeque<>(); // guarded by lock
    private boolean closed; // guarded by lock
    private final AtomicLong dropped = new AtomicLong();
    private volatile PodView pods = new PodView() {
        @Override
        public Optional<PodSandboxStatus> podStatus(String podId) {
            return Optional.empty();
        }

        @Override
        public List<ContainerStatus> containerStatuses(String podId) {
            return List.of();
        }
    };

    /** {@code capacity}: events a subscriber may lag behind before it is dropped (and events held for the next). */
    public ContainerEvents(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("event queue capacity must be positive: " + capacity);
        }
        this.capacity = capacity;
    }

    /**
     * Where events find their pod's status and its containers' statuses. A setter, not a constructor
     * parameter: the pod sandboxes publish their own events here, so they are built after this.
     */
    public void setPodView(PodView pods) {
        this.pods = pods;
    }

    /** A container's event, with its pod's status and every container status of the pod as they are now. */
    public void publish(String containerId, String podId, ContainerEventType type) {
        Optional<PodSandboxStatus> pod = Optional.empty();
        try {
            pod = pods.podStatus(podId);
        } catch (RuntimeException e) {
            LOG.fine("event " + type + " of container " + containerId + ": no pod status: " + e);
        }
        send(containerId, podId, type, pod);
    }

    /** A pod sandbox's event: {@code status} is the sandbox's at the moment it happened. */
    public void publishSandbox(ContainerEventType type, PodSandboxStatus status) {
        send(status.getId(), status.getId(), type, Optional.of(status));
    }

    private void send(String containerId, String podId, ContainerEventType type, Optional<PodSandboxStatus> pod) {
        Instant now = Instant.now();
        ContainerEventResponse.Builder event = ContainerEventResponse.newBuilder()
                .setContainerId(containerId)
                .setContainerEventType(type)
                .setCreatedAt(now.getEpochSecond() * 1_000_000_000L + now.getNano());
        pod.ifPresent(event::setPodSandboxStatus);
        try {
            event.addAllContainersStatuses(pods.containerStatuses(podId));
        } catch (RuntimeException e) {
            LOG.fine("event " + type + " of " + containerId + ": no container statuses: " + e);
        }
        ContainerEventResponse built = event.build();
        List<EventSubscriber> lagging = new ArrayList<>();
        synchronized (lock) {
            if (closed) {
                return;
            }
            if (subscribers.isEmpty()) {
                hold(built);
                return;
            }
            for (EventSubscriber s : subscribers) {
                if (!s.offer(built)) {
                    lagging.add(s);
                }
            }
            subscribers.removeAll(lagging);
        }
        if (!lagging.isEmpty()) {
            dropped.addAndGet(lagging.size());
            LOG.warning("events: " + lagging.size() + " GetContainerEvents subscriber(s) fell " + capacity
                    + " events behind; their streams end with RESOURCE_EXHAUSTED");
        }
    }

    private void hold(ContainerEventResponse event) {
        long now = System.nanoTime();
        while (!held.isEmpty() && (held.size() >= capacity || now - held.peek().atNanos() > HOLD.toNanos())) {
            held.poll();
        }
        held.add(new Held(now, event));
    }

    /**
     * Subscribes a GetContainerEvents call (from inside the RPC method): it first gets the events
     * held while nobody subscribed, then every new one.
     */
    public void subscribe(ServerCallStreamObserver<ContainerEventResponse> call) {
        EventSubscriber[] self = new EventSubscriber[1];
        EventSubscriber s = new EventSubscriber(call, capacity, drains, () -> unsubscribe(self[0]));
        self[0] = s;
        s.attach();
        synchronized (lock) {
            if (closed) {
                s.end(new CriError(CriError.Kind.UNAVAILABLE, "coracle is shutting down"));
                return;
            }
            long now = System.nanoTime();
            for (Held h : held) {
                if (now - h.atNanos() <= HOLD.toNanos()) {
                    s.offer(h.event());
                }
            }
            held.clear();
            subscribers.add(s);
        }
    }

    private void unsubscribe(EventSubscriber s) {
        synchronized (lock) {
            subscribers.remove(s);
        }
    }

    public int subscribers() {
        synchronized (lock) {
            return subscribers.size();
        }
    }

    /** Events waiting in subscribers' queues, over all subscribers. */
    public long queued() {
        List<EventSubscriber> now;
        synchronized (lock) {
            now = List.copyOf(subscribers);
        }
        return now.stream().mapToLong(EventSubscriber::queued).sum();
    }

    /** Subscribers dropped for lagging {@code capacity} events behind, since start. */
    public long droppedSubscribers() {
        return dropped.get();
    }

    /** Ends every stream with UNAVAILABLE (the daemon stops); later events go nowhere. */
    @Override
    public void close() {
        List<EventSubscriber> all;
        synchronized (lock) {
            closed = true;
            all = List.copyOf(subscribers);
            subscribers.clear();
            held.clear();
        }
        for (EventSubscriber s : all) {
            s.end(new CriError(CriError.Kind.UNAVAILABLE, "coracle is shutting down"));
        }
    }
}
