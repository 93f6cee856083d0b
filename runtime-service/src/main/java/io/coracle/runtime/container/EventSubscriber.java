package io.coracle.runtime.container;

import io.coracle.cri.v1.ContainerEventResponse;
import io.coracle.cri.CriError;
import io.coracle.cri.CriStatus;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One GetContainerEvents stream: a bounded queue that publishers fill without waiting, drained into
 * the call only while gRPC flow control says it is ready (so nothing piles up inside gRPC). A
 * subscriber that falls {@code capacity} events behind is dropped: its queue is freed and its stream
 * ends with RESOURCE_EXHAUSTED, so it knows it missed events (the kubelet relists and subscribes
 * again). One drain runs at a time, on {@code executor}, never holding a lock while it calls gRPC.
 */
final class EventSubscriber {
    private final ServerCallStreamObserver<ContainerEventResponse> call;
    private final int capacity;
    private final Executor executor;
    private final Runnable onGone;
    private final ArrayDeque<ContainerEventResponse> queue = new ArrayDeque<>(); // guarded by this
    /** The ending of a call the client cancelled: nothing is sent to it. */
    private static final CriError CANCELLED = new CriError(CriError.Kind.UNKNOWN, "cancelled by the client");
    private CriError ending; // guarded by this: set once; the drain ends the call with it (CANCELLED: silently)
    private final AtomicInteger pendingDrains = new AtomicInteger();
    private boolean ended; // touched by the drain only

    /** {@code onGone} runs once the stream is cancelled or ended, to unsubscribe. */
    EventSubscriber(ServerCallStreamObserver<ContainerEventResponse> call, int capacity, Executor executor,
                    Runnable onGone) {
        this.call = call;
        this.capacity = capacity;
        this.executor = executor;
        this.onGone = onGone;
    }

    /** Hooks flow control and cancellation into the call; must run inside the RPC method. */
    void attach() {
        call.setOnReadyHandler(this::signal);
        call.setOnCancelHandler(() -> {
            synchronized (this) {
                queue.clear();
                if (ending == null) {
                    ending = CANCELLED;
                }
            }
            onGone.run();
        });
    }

    /**
     * Queues an event without waiting; false when the subscriber is over its bound (it is then
     * being dropped) or already ending.
     */
    boolean offer(ContainerEventResponse event) {
        boolean kept;
        synchronized (this) {
            if (ending != null) {
                return false;
            }
            kept = queue.size() < capacity;
            if (kept) {
                queue.add(event);
            } else {
                queue.clear();
                ending = new CriError(CriError.Kind.RESOURCE_EXHAUSTED, "this GetContainerEvents subscriber fell "
                        + capacity + " events behind and was dropped; subscribe again and list pods and containers");
            }
        }
        signal();
        return kept;
    }

    /** Ends the stream with {@code error} once the events already queued before it are dropped. */
    void end(CriError error) {
        synchronized (this) {
            if (ending != null) {
                return;
            }
            queue.clear();
            ending = error;
        }
        signal();
    }

    synchronized int queued() {
        return queue.size();
    }

    /** Schedules a drain unless one is running (that one loops once more). */
    private void signal() {
        if (pendingDrains.getAndIncrement() == 0) {
            executor.execute(this::drain);
        }
    }

    private void drain() {
        int missed = 1;
        do {
            if (!ended) {
                drainOnce();
            }
            missed = pendingDrains.addAndGet(-missed);
        } while (missed != 0);
    }

    private void drainOnce() {
        try {
            while (true) {
                CriError end;
                synchronized (this) {
                    end = ending;
                }
                if (end != null) {
                    ended = true;
                    if (end != CANCELLED) {
                        call.onError(CriStatus.of(end).asRuntimeException());
                    }
                    onGone.run();
                    return;
                }
                if (!call.isReady()) {
                    return; // the on-ready handler signals when the transport takes more
                }
                ContainerEventResponse next;
                synchronized (this) {
                    next = ending == null ? queue.poll() : null;
                }
                if (next == null) {
                    return; // an offer or an end after this signals again
                }
                call.onNext(next);
            }
        } catch (RuntimeException e) {
            // The call is closed or cancelled under us: nothing more goes to it.
            synchronized (this) {
                queue.clear();
                if (ending == null) {
                    ending = CANCELLED;
                }
            }
            ended = true;
            onGone.run();
        }
    }
}
