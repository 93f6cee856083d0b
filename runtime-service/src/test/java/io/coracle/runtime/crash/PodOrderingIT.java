package io.coracle.runtime.crash;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Calls on one pod race its stop and removal: a container created or started into a pod being removed
 * is refused (NOT_FOUND or FAILED_PRECONDITION, as containerd), never left running; the kubelet's retry
 * of a call that timed out gets the object the first call made.
 */
class PodOrderingIT {
    private static final Set<Status.Code> REFUSED = Set.of(Status.Code.NOT_FOUND, Status.Code.FAILED_PRECONDITION);
    private static CrashBed crash;

    @BeforeAll
    static void start() throws Exception {
        crash = CrashBed.start("");
    }

    @AfterAll
    static void stop() throws Exception {
        crash.close();
    }

    @Test
    void createAndStartStormsAgainstRemovalLeaveNothingRunning() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(9);
        try {
            for (int round = 0; round < 4; round++) {
                PodSandboxConfig pod = crash.bed.pod("storm" + round).build();
                long removeAfterMs = 250L * round;
                String podId = crash.bed.runPod(pod);
                CountDownLatch go = new CountDownLatch(1);
                Map<Status.Code, Integer> outcomes = new ConcurrentHashMap<>();
                Set<String> messages = ConcurrentHashMap.newKeySet();
                List<Future<?>> calls = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    String name = "c" + i;
                    calls.add(pool.submit(() -> {
                        go.await();
                        try {
                            String id = crash.bed.create(podId, pod, container(name, "sleep", "300"));
                            crash.bed.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                            outcomes.merge(Status.Code.OK, 1, Integer::sum);
                        } catch (StatusRuntimeException e) {
                            assertTrue(REFUSED.contains(e.getStatus().getCode()), "refused with " + e.getStatus());
                            outcomes.merge(e.getStatus().getCode(), 1, Integer::sum);
                            messages.add(e.getStatus().getDescription());
                        }
                        return null;
                    }));
                }
                calls.add(pool.submit(() -> {
                    go.await();
                    Thread.sleep(removeAfterMs);
                    crash.bed.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
                    crash.bed.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
                    return null;
                }));
                go.countDown();
                for (Future<?> f : calls) {
                    f.get();
                }
                System.out.println("PodOrderingIT: storm round " + round + ": " + outcomes + " " + messages);
                assertEquals(0, crash.bed.runtime().listContainers(ListContainersRequest.getDefaultInstance())
                        .getContainersCount(), "containers left in a removed pod");
                assertEquals(0, crash.bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance())
                        .getItemsCount());
                assertEquals(List.of(), crash.leaks());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void createIntoARemovedPodIsRefused() {
        PodSandboxConfig pod = crash.bed.pod("gone").build();
        String podId = crash.bed.runPod(pod);
        crash.bed.removePod(podId);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> crash.bed.create(podId, pod, container("late", "sleep", "300")));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }

    @Test
    void startInAStoppedPodIsRefused() throws Exception {
        PodSandboxConfig pod = crash.bed.pod("stopped").build();
        String podId = crash.bed.runPod(pod);
        String id = crash.bed.create(podId, pod, container("late", "sleep", "300"));
        crash.bed.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> crash.bed.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        crash.bed.removePod(podId);
        assertEquals(List.of(), crash.leaks());
    }

    @Test
    void retriedCallsGetWhatTheFirstCallMade() throws Exception {
        PodSandboxConfig pod = crash.bed.pod("retry").build();
        RunPodSandboxRequest run = RunPodSandboxRequest.newBuilder().setConfig(pod).build();
        String podId = crash.bed.runtime().runPodSandbox(run).getPodSandboxId();
        assertEquals(podId, crash.bed.runtime().runPodSandbox(run).getPodSandboxId(), "retried RunPodSandbox");
        PodSandboxConfig other = pod.toBuilder().setHostname("other").build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> crash.bed.runtime()
                .runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(other).build()));
        assertEquals(Status.Code.ALREADY_EXISTS, e.getStatus().getCode());

        ContainerConfig config = container("app", "sleep", "300").build();
        CreateContainerRequest create = CreateContainerRequest.newBuilder().setPodSandboxId(podId).setConfig(config)
                .setSandboxConfig(pod).build();
        String ctr = crash.bed.runtime().createContainer(create).getContainerId();
        assertEquals(ctr, crash.bed.runtime().createContainer(create).getContainerId(), "retried CreateContainer");
        CreateContainerRequest changed = create.toBuilder().setConfig(config.toBuilder().addArgs("x")).build();
        e = assertThrows(StatusRuntimeException.class, () -> crash.bed.runtime().createContainer(changed));
        assertEquals(Status.Code.ALREADY_EXISTS, e.getStatus().getCode());
        assertNotEquals("", ctr);
        assertEquals(1, crash.bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
        crash.bed.removePod(podId);
        assertEquals(List.of(), crash.leaks());
    }
}
