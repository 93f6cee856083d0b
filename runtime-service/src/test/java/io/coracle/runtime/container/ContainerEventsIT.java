package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerEventResponse;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.GetEventsRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxState;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.DaemonProcess;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * GetContainerEvents against a real daemon, as the kubelet's evented PLEG reads it: sandbox and
 * container events in order with the pod's status and its containers' statuses; exits that happened
 * while the daemon was down; and a subscriber that never reads, which must cost the daemon nothing.
 */
class ContainerEventsIT {
    private static final Duration WAIT = Duration.ofSeconds(20);

    /** A subscriber that reads every event as it comes. */
    static final class Subscriber implements StreamObserver<ContainerEventResponse> {
        final BlockingQueue<ContainerEventResponse> events = new LinkedBlockingQueue<>();
        final AtomicReference<Throwable> end = new AtomicReference<>();

        static Subscriber on(ManagedChannel channel) {
            Subscriber s = new Subscriber();
            RuntimeServiceGrpc.newStub(channel).getContainerEvents(GetEventsRequest.getDefaultInstance(), s);
            return s;
        }

        @Override
        public void onNext(ContainerEventResponse value) {
            events.add(value);
        }

        @Override
        public void onError(Throwable t) {
            end.set(t);
        }

        @Override
        public void onCompleted() {
            end.set(new AssertionError("the event stream completed"));
        }

        /** The next event about {@code id}, skipping others; fails after {@link #WAIT}. */
        ContainerEventResponse next(String id) throws InterruptedException {
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (true) {
                ContainerEventResponse e = events.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (e == null) {
                    throw new AssertionError("no event for " + id + " within " + WAIT + (end.get() == null ? ""
                            : "; the stream ended: " + end.get()));
                }
                if (e.getContainerId().equals(id)) {
                    return e;
                }
            }
        }

        /** The events of the given ids (null: all), in arrival order, until {@code count} arrived. */
        List<ContainerEventResponse> take(int count, List<String> ids) throws InterruptedException {
            List<ContainerEventResponse> out = new ArrayList<>();
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (out.size() < count) {
                ContainerEventResponse e = events.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (e == null) {
                    throw new AssertionError("only " + out.size() + " of " + count + " events: " + summary(out)
                            + (end.get() == null ? "" : "; the stream ended: " + end.get()));
                }
                if (ids == null || ids.contains(e.getContainerId())) {
                    out.add(e);
                }
            }
            return out;
        }
    }

    static String summary(List<ContainerEventResponse> events) {
        return events.stream().map(e -> e.getContainerId().substring(0, 8) + ":" + e.getContainerEventType()).toList()
                .toString();
    }

    private static ContainerStatus statusOf(ContainerEventResponse e, String id) {
        return e.getContainersStatusesList().stream().filter(s -> s.getId().equals(id)).findFirst()
                .orElseThrow(() -> new AssertionError("event " + e.getContainerEventType() + " of "
                        + e.getContainerId() + " has no status of container " + id + ": " + e));
    }

    @Test
    void aSubscriberSeesThePodAndItsContainersFromRunToRemoveInOrderWithStatuses() throws Exception {
        try (CriTestbed bed = CriTestbed.start()) {
            Subscriber sub = Subscriber.on(bed.daemon.channel());
            PodSandboxConfig pod = bed.pod("evented").build();
            String podId = bed.runPod(pod);
            String main = bed.createAndStart(podId, pod, container("main", "sleep", "300"));
            String quitter = bed.createAndStart(podId, pod, container("quitter", "sh", "-c", "sleep 1; exit 3"));
            // The quitter's own exit, then a StopContainer, a RemoveContainer, and the pod's stop and remove.
            List<ContainerEventResponse> first = sub.take(7, List.of(podId, main, quitter));
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(main).setTimeout(5).build());
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(main).build());
            bed.removePod(podId);
            List<ContainerEventResponse> events = new ArrayList<>(first);
            events.addAll(sub.take(5, List.of(podId, main, quitter)));

            record Seen(String id, ContainerEventType type) {}
            List<Seen> expected = List.of(
                    new Seen(podId, ContainerEventType.CONTAINER_CREATED_EVENT),
                    new Seen(podId, ContainerEventType.CONTAINER_STARTED_EVENT),
                    new Seen(main, ContainerEventType.CONTAINER_CREATED_EVENT),
                    new Seen(main, ContainerEventType.CONTAINER_STARTED_EVENT),
                    new Seen(quitter, ContainerEventType.CONTAINER_CREATED_EVENT),
                    new Seen(quitter, ContainerEventType.CONTAINER_STARTED_EVENT),
                    new Seen(quitter, ContainerEventType.CONTAINER_STOPPED_EVENT),
                    new Seen(main, ContainerEventType.CONTAINER_STOPPED_EVENT),
                    new Seen(main, ContainerEventType.CONTAINER_DELETED_EVENT),
                    new Seen(podId, ContainerEventType.CONTAINER_STOPPED_EVENT),
                    new Seen(quitter, ContainerEventType.CONTAINER_DELETED_EVENT),
                    new Seen(podId, ContainerEventType.CONTAINER_DELETED_EVENT));
            assertEquals(expected, events.stream().map(e -> new Seen(e.getContainerId(), e.getContainerEventType()))
                    .toList(), summary(events));

            long previous = 0;
            for (int i = 0; i < events.size(); i++) {
                ContainerEventResponse e = events.get(i);
                assertTrue(e.hasPodSandboxStatus(), "event " + i + " has the pod's status");
                assertEquals(podId, e.getPodSandboxStatus().getId());
                assertEquals(pod.getMetadata(), e.getPodSandboxStatus().getMetadata());
                assertEquals(i < 9 ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY,
                        e.getPodSandboxStatus().getState(), "pod state at event " + i);
                assertTrue(e.getCreatedAt() >= previous, "created_at never goes back");
                assertTrue(Math.abs(e.getCreatedAt() / 1_000_000 - System.currentTimeMillis()) < 120_000,
                        "created_at is unix nanoseconds");
                previous = e.getCreatedAt();
            }
            assertFalse(events.get(0).getPodSandboxStatus().getNetwork().getIp().isEmpty(), "a ready pod has its IP");
            assertEquals(List.of(), events.get(1).getContainersStatusesList(), "no containers yet");
            assertEquals(ContainerState.CONTAINER_CREATED, statusOf(events.get(2), main).getState());
            assertEquals(ContainerState.CONTAINER_RUNNING, statusOf(events.get(3), main).getState());
            ContainerStatus quit = statusOf(events.get(6), quitter);
            assertEquals(ContainerState.CONTAINER_EXITED, quit.getState());
            assertEquals(3, quit.getExitCode());
            assertEquals(ContainerState.CONTAINER_RUNNING, statusOf(events.get(6), main).getState(),
                    "every container of the pod is in the event");
            assertEquals(ContainerState.CONTAINER_EXITED, statusOf(events.get(7), main).getState());
            assertEquals(List.of(quitter), events.get(8).getContainersStatusesList().stream().map(ContainerStatus::getId)
                    .toList(), "a deleted container is gone from its own event");
            assertEquals(List.of(), events.get(11).getContainersStatusesList());
            assertNull(sub.end.get());
        }
    }

    @Test
    void aContainerThatExitedWhileTheDaemonWasDownIsReportedStoppedOnceToTheNextSubscriber() throws Exception {
        try (CriTestbed bed = CriTestbed.start()) {
            Subscriber before = Subscriber.on(bed.daemon.channel());
            PodSandboxConfig pod = bed.pod("restart").build();
            String podId = bed.runPod(pod);
            String early = bed.createAndStart(podId, pod, container("early", "sh", "-c", "exit 4"));
            assertEquals(ContainerEventType.CONTAINER_STOPPED_EVENT, nextOfType(before, early,
                    ContainerEventType.CONTAINER_STOPPED_EVENT).getContainerEventType());
            String runner = bed.createAndStart(podId, pod, container("runner", "sleep", "300"));
            String late = bed.createAndStart(podId, pod, container("late", "sh", "-c", "sleep 2; exit 7"));

            bed.daemon.kill9();
            Path exit = bed.daemon.dir().resolve("state/ctr/" + late.substring(0, 16) + "/exit.json");
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (!Files.exists(exit)) {
                assertTrue(System.nanoTime() < deadline, "the container never exited: no " + exit);
                Thread.sleep(50);
            }
            bed.daemon = bed.daemon.relaunch();
            bed.daemon.awaitServing(Duration.ofSeconds(30));
            Subscriber after = Subscriber.on(bed.daemon.channel());

            ContainerEventResponse stopped = after.next(late);
            assertEquals(ContainerEventType.CONTAINER_STOPPED_EVENT, stopped.getContainerEventType());
            assertEquals(podId, stopped.getPodSandboxStatus().getId());
            assertEquals(PodSandboxState.SANDBOX_READY, stopped.getPodSandboxStatus().getState());
            ContainerStatus lateStatus = statusOf(stopped, late);
            assertEquals(ContainerState.CONTAINER_EXITED, lateStatus.getState());
            assertEquals(7, lateStatus.getExitCode());
            assertEquals(ContainerState.CONTAINER_RUNNING, statusOf(stopped, runner).getState());
            // Nothing else was due: the early exit went out before the crash, the runner still runs.
            ContainerEventResponse more = after.events.poll(2, TimeUnit.SECONDS);
            assertNull(more, () -> "unexpected event " + more.getContainerId() + " " + more.getContainerEventType());

            // Reported once: a second restart has nothing to tell.
            bed.crashAndRestartDaemon();
            Subscriber third = Subscriber.on(bed.daemon.channel());
            ContainerEventResponse again = third.events.poll(2, TimeUnit.SECONDS);
            assertNull(again, () -> "replayed " + again.getContainerId() + " " + again.getContainerEventType());
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(runner).setTimeout(0).build());
            assertEquals(runner, third.next(runner).getContainerId());
        }
    }

    private static ContainerEventResponse nextOfType(Subscriber s, String id, ContainerEventType type)
            throws InterruptedException {
        while (true) {
            ContainerEventResponse e = s.next(id);
            if (e.getContainerEventType() == type) {
                return e;
            }
        }
    }

    private static final Pattern LOGGED_URL = Pattern.compile("metrics on (http://127\\.0\\.0\\.1:\\d+/metrics)");

    private static double metric(HttpClient http, URI url, String name) throws Exception {
        String body = http.send(HttpRequest.newBuilder(url).build(), HttpResponse.BodyHandlers.ofString()).body();
        Matcher m = Pattern.compile("(?m)^" + name + "(\\{[^}]*\\})? (\\S+)$").matcher(body);
        assertTrue(m.find(), "no " + name + " in\n" + body);
        return Double.parseDouble(m.group(2));
    }

    private static long median(List<Long> values) {
        List<Long> sorted = values.stream().sorted().toList();
        return sorted.get(sorted.size() / 2);
    }

    @Test
    void aSubscriberThatNeverReadsSlowsNothingAndIsDroppedAtItsBound() throws Exception {
        int bound = 64;
        try (CriTestbed bed = CriTestbed.start("[events]\nsubscriber_queue = " + bound + "\n")) {
            Matcher m = LOGGED_URL.matcher(bed.daemon.logText());
            assertTrue(m.find(), "no 'metrics on' line in the log");
            URI metrics = URI.create(m.group(1));
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            Subscriber reader = Subscriber.on(bed.daemon.channel());
            PodSandboxConfig pod = bed.pod("flood").build();
            String podId = bed.runPod(pod);

            // Latencies without the stuck subscriber first.
            List<Long> baseline = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                baseline.add(lifecycle(bed, podId, pod, "warm" + i));
            }

            // A client that asks for no message and has a small HTTP/2 window: once the window is full,
            // nothing more leaves the daemon for it.
            EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
            ManagedChannel stuckChannel = NettyChannelBuilder.forAddress(new DomainSocketAddress(bed.daemon.socket().toString()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext()
                    .flowControlWindow(16 * 1024).build();
            try {
                AtomicInteger stuckGot = new AtomicInteger();
                AtomicReference<Status> stuckEnd = new AtomicReference<>();
                ClientCall<GetEventsRequest, ContainerEventResponse> stuck = stuckChannel.newCall(
                        RuntimeServiceGrpc.getGetContainerEventsMethod(), CallOptions.DEFAULT);
                stuck.start(new ClientCall.Listener<>() {
                    @Override
                    public void onMessage(ContainerEventResponse message) {
                        stuckGot.incrementAndGet();
                    }

                    @Override
                    public void onClose(Status status, Metadata trailers) {
                        stuckEnd.set(status);
                    }
                }, new Metadata());
                stuck.sendMessage(GetEventsRequest.getDefaultInstance());
                stuck.halfClose();
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (metric(http, metrics, "coracle_event_subscribers") < 2) {
                    assertTrue(System.nanoTime() < deadline, "the stuck subscriber never subscribed");
                    Thread.sleep(20);
                }

                // 60 containers created, started, stopped and removed: 240 events.
                List<Long> flooded = new ArrayList<>();
                double maxQueued = 0;
                for (int i = 0; i < 60; i++) {
                    flooded.add(lifecycle(bed, podId, pod, "c" + i));
                    if (i % 10 == 9) {
                        maxQueued = Math.max(maxQueued, metric(http, metrics, "coracle_event_queued"));
                    }
                }
                long base = median(baseline), during = median(flooded);
                assertTrue(during <= 2 * base + 250, "create+start+stop+remove took " + during
                        + " ms (median) with the stuck subscriber, " + base + " ms without");
                assertTrue(maxQueued <= 2 * bound, "queued events stay bounded: " + maxQueued);

                // The daemon dropped it: it holds nothing for it, and the reader lost nothing.
                assertEquals(1, metric(http, metrics, "coracle_event_subscribers_dropped_total"));
                assertEquals(1, metric(http, metrics, "coracle_event_subscribers"));
                assertEquals(0, metric(http, metrics, "coracle_event_queued"));
                List<ContainerEventResponse> all = reader.take(2 + 4 * 68, null);
                for (ContainerEventType type : List.of(ContainerEventType.CONTAINER_STARTED_EVENT,
                        ContainerEventType.CONTAINER_STOPPED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT)) {
                    assertEquals(68, all.stream().filter(e -> !e.getContainerId().equals(podId)
                            && e.getContainerEventType() == type).count(), type.toString());
                }
                assertTrue(all.stream().allMatch(e -> e.getPodSandboxStatus().getId().equals(podId)));
                assertNull(reader.events.poll(), "no event twice");
                assertNull(reader.end.get());
                assertEquals(0, stuckGot.get(), "the stuck client asked for nothing");
                assertNull(stuckEnd.get());

                // When it reads at last, it finds a bounded backlog and the reason it was dropped.
                stuck.request(Integer.MAX_VALUE);
                deadline = System.nanoTime() + WAIT.toNanos();
                while (stuckEnd.get() == null) {
                    assertTrue(System.nanoTime() < deadline, "the stuck client's stream never ended");
                    Thread.sleep(20);
                }
                assertEquals(Status.Code.RESOURCE_EXHAUSTED, stuckEnd.get().getCode(), stuckEnd.get().toString());
                assertTrue(stuckGot.get() < 4 * 60, "got " + stuckGot.get() + " events before the end");
            } finally {
                stuckChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void stoppingTheDaemonEndsEventStreamsAtOnceWithUnavailable() throws Exception {
        try (DaemonProcess daemon = DaemonProcess.start()) {
            EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
            ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(daemon.socket().toString()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
            try {
                Subscriber sub = Subscriber.on(channel);
                daemon.runtime().version(io.coracle.cri.v1.VersionRequest.getDefaultInstance());
                Thread.sleep(200); // the subscription reaches the daemon
                long t0 = System.nanoTime();
                assertEquals(0, daemon.terminate(Duration.ofSeconds(30)));
                long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                // Without ending the stream first, the server would wait out its 10 s grace for it.
                assertTrue(took < 8_000, "the daemon took " + took + " ms to stop");
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (sub.end.get() == null) {
                    assertTrue(System.nanoTime() < deadline, "the stream never ended");
                    Thread.sleep(20);
                }
                Status end = Status.fromThrowable(sub.end.get());
                assertEquals(Status.Code.UNAVAILABLE, end.getCode(), end.toString());
                assertTrue(String.valueOf(end.getDescription()).contains("shutting down"), end.toString());
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
            }
        }
    }

    /** Creates, starts, stops and removes one container; returns how long the four calls took, in ms. */
    private static long lifecycle(CriTestbed bed, String podId, PodSandboxConfig pod, String name) {
        long t0 = System.nanoTime();
        String id = bed.create(podId, pod, container(name, "sleep", "300"));
        bed.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(0).build());
        bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }
}
