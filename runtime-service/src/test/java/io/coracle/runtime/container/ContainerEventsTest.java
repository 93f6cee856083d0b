package io.coracle.runtime.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerEventResponse;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.PodSandboxState;
import io.coracle.cri.v1.PodSandboxStatus;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/** The event fan-out against stand-in gRPC calls: order, pod details, holding, flow control, lagging subscribers. */
class ContainerEventsTest {

    /** A server call whose readiness the test sets; it records what reaches it. */
    static final class FakeCall extends ServerCallStreamObserver<ContainerEventResponse> {
        volatile boolean ready = true;
        volatile Runnable onReady = () -> { };
        volatile Runnable onCancel = () -> { };
        volatile Status error;
        volatile CountDownLatch blockOnNext;
        private final List<ContainerEventResponse> sent = new ArrayList<>();

        synchronized List<ContainerEventResponse> sent() {
            return List.copyOf(sent);
        }

        void becomeReady() {
            ready = true;
            onReady.run();
        }

        @Override
        public boolean isReady() {
            return ready;
        }

        @Override
        public void setOnReadyHandler(Runnable handler) {
            onReady = handler;
        }

        @Override
        public void setOnCancelHandler(Runnable handler) {
            onCancel = handler;
        }

        @Override
        public void onNext(ContainerEventResponse value) {
            CountDownLatch block = blockOnNext;
            if (block != null) {
                try {
                    block.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            synchronized (this) {
                sent.add(value);
            }
        }

        @Override
        public void onError(Throwable t) {
            error = Status.fromThrowable(t);
        }

        @Override
        public void onCompleted() {
            throw new AssertionError("event streams never complete by themselves");
        }

        @Override
        public boolean isCancelled() {
            return false;
        }

        @Override
        public void setCompression(String compression) {
        }

        @Override
        public void disableAutoInboundFlowControl() {
        }

        @Override
        public void request(int count) {
        }

        @Override
        public void setMessageCompression(boolean enable) {
        }
    }

    private static final PodSandboxStatus POD = PodSandboxStatus.newBuilder().setId("pod1")
            .setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("ns").setUid("uid-1"))
            .setState(PodSandboxState.SANDBOX_READY).build();

    private static ContainerEvents events(int capacity) {
        ContainerEvents events = new ContainerEvents(capacity);
        events.setPodView(new ContainerEvents.PodView() {
            @Override
            public Optional<PodSandboxStatus> podStatus(String podId) {
                return podId.equals("pod1") ? Optional.of(POD) : Optional.empty();
            }

            @Override
            public List<ContainerStatus> containerStatuses(String podId) {
                return podId.equals("pod1") ? List.of(
                        ContainerStatus.newBuilder().setId("c1").setState(ContainerState.CONTAINER_RUNNING).build(),
                        ContainerStatus.newBuilder().setId("c2").setState(ContainerState.CONTAINER_EXITED).build())
                        : List.of();
            }
        });
        return events;
    }

    private static void await(BooleanSupplier done, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(5);
        }
    }

    @Test
    void eventsArriveInOrderWithThePodStatusAndAllItsContainers() throws Exception {
        ContainerEvents events = events(100);
        FakeCall call = new FakeCall();
        events.subscribe(call);
        events.publishSandbox(ContainerEventType.CONTAINER_CREATED_EVENT, POD);
        events.publish("c1", "pod1", ContainerEventType.CONTAINER_CREATED_EVENT);
        events.publish("c1", "pod1", ContainerEventType.CONTAINER_STARTED_EVENT);
        events.publish("c9", "gone", ContainerEventType.CONTAINER_DELETED_EVENT);
        await(() -> call.sent().size() == 4, "4 events");

        List<ContainerEventResponse> got = call.sent();
        assertEquals(List.of("pod1", "c1", "c1", "c9"), got.stream().map(ContainerEventResponse::getContainerId).toList());
        assertEquals(List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_CREATED_EVENT,
                ContainerEventType.CONTAINER_STARTED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT),
                got.stream().map(ContainerEventResponse::getContainerEventType).toList());
        for (ContainerEventResponse e : got.subList(0, 3)) {
            assertEquals(POD, e.getPodSandboxStatus());
            assertEquals(List.of("c1", "c2"), e.getContainersStatusesList().stream().map(ContainerStatus::getId).toList());
            assertTrue(Math.abs(e.getCreatedAt() / 1_000_000 - System.currentTimeMillis()) < 60_000, "created_at in ns");
        }
        assertTrue(!got.get(3).hasPodSandboxStatus(), "a vanished pod has no status");
        assertNull(call.error);
    }

    @Test
    void eventsPublishedWithoutSubscribersAreHeldForTheNextOneOnly() throws Exception {
        ContainerEvents events = events(100);
        events.publish("c1", "pod1", ContainerEventType.CONTAINER_STOPPED_EVENT);
        events.publish("c2", "pod1", ContainerEventType.CONTAINER_STOPPED_EVENT);
        FakeCall first = new FakeCall();
        events.subscribe(first);
        events.publish("c3", "pod1", ContainerEventType.CONTAINER_STOPPED_EVENT);
        await(() -> first.sent().size() == 3, "held and new events");
        assertEquals(List.of("c1", "c2", "c3"), first.sent().stream().map(ContainerEventResponse::getContainerId).toList());

        FakeCall second = new FakeCall();
        events.subscribe(second);
        events.publish("c4", "pod1", ContainerEventType.CONTAINER_STOPPED_EVENT);
        await(() -> second.sent().size() == 1, "the new event");
        assertEquals("c4", second.sent().getFirst().getContainerId());
    }

    @Test
    void heldEventsAreBoundedToTheNewestCapacityOnes() throws Exception {
        ContainerEvents events = events(16);
        for (int i = 0; i < 40; i++) {
            events.publish("c" + i, "pod1", ContainerEventType.CONTAINER_STOPPED_EVENT);
        }
        FakeCall call = new FakeCall();
        events.subscribe(call);
        await(() -> call.sent().size() == 16, "16 held events");
        assertEquals("c24", call.sent().getFirst().getContainerId());
        assertEquals("c39", call.sent().getLast().getContainerId());
    }

    @Test
    void nothingGoesToACallThatIsNotReadyUntilFlowControlSaysSo() throws Exception {
        ContainerEvents events = events(100);
        FakeCall call = new FakeCall();
        call.ready = false;
        events.subscribe(call);
        for (int i = 0; i < 10; i++) {
            events.publish("c" + i, "pod1", ContainerEventType.CONTAINER_STARTED_EVENT);
        }
        await(() -> events.queued() == 10, "10 queued events");
        Thread.sleep(50);
        assertEquals(0, call.sent().size());
        call.becomeReady();
        await(() -> call.sent().size() == 10, "10 events after on-ready");
        assertEquals(0, events.queued());
    }

    @Test
    void aSubscriberThatFallsCapacityBehindIsDroppedWithResourceExhaustedWhileOthersGetEverything() throws Exception {
        ContainerEvents events = events(16);
        FakeCall stuck = new FakeCall();
        stuck.ready = false;
        FakeCall reader = new FakeCall();
        events.subscribe(stuck);
        events.subscribe(reader);
        for (int i = 0; i < 200; i++) {
            events.publish("c" + i, "pod1", ContainerEventType.CONTAINER_STARTED_EVENT);
            int n = i + 1;
            await(() -> reader.sent().size() == n, "event " + n + " for the reader, which keeps up");
        }
        await(() -> stuck.error != null, "the stuck subscriber's end");
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, stuck.error.getCode());
        assertTrue(stuck.error.getDescription().contains("fell 16 events behind"), stuck.error.getDescription());
        assertEquals(0, stuck.sent().size());
        await(() -> reader.sent().size() == 200, "all 200 events for the reader");
        assertEquals(1, events.subscribers());
        assertEquals(1, events.droppedSubscribers());
        assertEquals(0, events.queued());
        stuck.becomeReady();
        Thread.sleep(50);
        assertEquals(0, stuck.sent().size(), "nothing after the end");
    }

    @Test
    void publishingNeverWaitsForASubscriberThatIsStuckInsideGrpc() throws Exception {
        ContainerEvents events = events(1000);
        FakeCall blocked = new FakeCall();
        blocked.blockOnNext = new CountDownLatch(1);
        events.subscribe(blocked);
        long t0 = System.nanoTime();
        for (int i = 0; i < 500; i++) {
            events.publish("c" + i, "pod1", ContainerEventType.CONTAINER_STARTED_EVENT);
        }
        long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(took < 5_000, "500 publishes took " + took + " ms");
        blocked.blockOnNext.countDown();
        await(() -> blocked.sent().size() == 500, "all 500 once unblocked");
    }

    @Test
    void aCancelledSubscriberIsForgottenAndCloseEndsTheRestWithUnavailable() throws Exception {
        ContainerEvents events = events(100);
        FakeCall cancelled = new FakeCall();
        FakeCall open = new FakeCall();
        events.subscribe(cancelled);
        events.subscribe(open);
        cancelled.onCancel.run();
        assertEquals(1, events.subscribers());
        events.publish("c1", "pod1", ContainerEventType.CONTAINER_STARTED_EVENT);
        await(() -> open.sent().size() == 1, "the open subscriber's event");
        assertEquals(0, cancelled.sent().size());

        events.close();
        await(() -> open.error != null, "the end of the open stream");
        assertEquals(Status.Code.UNAVAILABLE, open.error.getCode());
        assertNull(cancelled.error, "a cancelled call is not answered");
        assertEquals(0, events.subscribers());
    }
}
