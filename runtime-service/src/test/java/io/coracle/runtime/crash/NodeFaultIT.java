package io.coracle.runtime.crash;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemoveImageRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.VersionRequest;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Faults of the node under Coracle: a shim killed with SIGKILL, state records truncated or garbled
 * while the daemon is down, and the root filling up. What the kubelet sees, and nothing left behind.
 */
class NodeFaultIT {

    @Test
    void aKilledShimIsReportedExitedAndItsContainerReclaimed() throws Exception {
        try (CrashBed crash = CrashBed.start("")) {
            PodSandboxConfig pod = crash.bed.pod("shimkill").build();
            String podId = crash.bed.runPod(pod);
            String id = crash.bed.createAndStart(podId, pod, container("victim", "sleep", "300"));
            long shim = shimPid(crash.dir, id);
            Path cgroupProcs = Path.of("/sys/fs/cgroup/pids" + crash.bed.cgroupParent(), "pod-" + podId, id, "cgroup.procs");
            assertTrue(Files.exists(cgroupProcs) && !Files.readString(cgroupProcs).isBlank(), "container runs");

            assertEquals(0, CrashBed.run("kill", "-9", String.valueOf(shim)));
            ContainerStatus s = crash.bed.awaitStatus(id, st -> st.getState() == ContainerState.CONTAINER_EXITED,
                    Duration.ofSeconds(15));
            assertEquals("ShimDied", s.getReason());
            assertEquals(137, s.getExitCode());
            assertTrue(s.getMessage().contains("shim died"), s.getMessage());
            assertTrue(!Files.exists(cgroupProcs) || Files.readString(cgroupProcs).isBlank(),
                    "the container's processes were killed");
            crash.bed.removePod(podId);
            assertEquals(List.of(), crash.leaks());
        }
    }

    @Test
    void damagedRecordsAreReportedAndTheOthersKept() throws Exception {
        try (CrashBed crash = CrashBed.start("")) {
            PodSandboxConfig a = crash.bed.pod("truncated").build();
            PodSandboxConfig b = crash.bed.pod("garbled").build();
            PodSandboxConfig c = crash.bed.pod("intact").build();
            String podA = crash.bed.runPod(a);
            String podB = crash.bed.runPod(b);
            String podC = crash.bed.runPod(c);
            crash.bed.createAndStart(podA, a, container("a", "sleep", "300"));
            String ctrB = crash.bed.createAndStart(podB, b, container("b", "sleep", "300"));
            String ctrC = crash.bed.createAndStart(podC, c, container("c", "sleep", "300"));

            crash.daemon().process().destroyForcibly().waitFor();
            Path sandboxA = crash.dir.resolve("root/sandboxes").resolve(podA).resolve("sandbox.json");
            byte[] whole = Files.readAllBytes(sandboxA);
            Files.write(sandboxA, java.util.Arrays.copyOf(whole, whole.length / 2)); // truncated mid-write
            Files.writeString(crash.dir.resolve("root/containers").resolve(ctrB).resolve("meta.json"), "{\u0000garbage");
            crash.killAndRestart();

            String log = crash.daemon().logText();
            assertTrue(log.contains("sandbox " + podA.substring(0, 13) + ": record"), log);
            assertTrue(log.contains("container record") && log.contains(ctrB), log);
            var pods = crash.bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList();
            assertEquals(List.of(podB, podC).stream().sorted().toList(),
                    pods.stream().map(p -> p.getId()).sorted().toList());
            var ctrs = crash.bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList();
            assertEquals(List.of(ctrC), ctrs.stream().map(x -> x.getId()).toList());
            assertEquals(ContainerState.CONTAINER_RUNNING, crash.bed.status(ctrC).getState());

            assertEquals(List.of(), crash.removeAllPods());
            assertEquals(List.of(), crash.leaks());
        }
    }

    @Test
    void aFullRootIsAClearErrorAndTheDaemonKeepsServing() throws Exception {
        try (CrashBed crash = CrashBed.start("", 40L << 20)) {
            PodSandboxConfig pod = crash.bed.pod("full").build();
            String podId = crash.bed.runPod(pod);
            String filler = crash.bed.createAndStart(podId, pod,
                    container("filler", "sh", "-c", "dd if=/dev/zero of=/fill bs=1M count=100; echo dd-exit-$?"));
            ContainerStatus s = crash.bed.awaitStatus(filler, st -> st.getState() == ContainerState.CONTAINER_EXITED,
                    Duration.ofSeconds(30));
            String out = Files.readString(Path.of(s.getLogPath()), StandardCharsets.UTF_8);
            assertTrue(out.contains("No space left on device"), out);

            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> crash.bed.create(podId, pod, container("more", "true")));
            // The kubelet sees the node out of a resource, with what failed and where.
            assertEquals(io.grpc.Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().startsWith("out of disk space: "), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("No space left on device"), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains(crash.dir.resolve("root").toString()), e.getStatus().toString());
            System.out.println("NodeFaultIT: CreateContainer on a full root: " + e.getStatus());
            crash.bed.runtime().version(VersionRequest.getDefaultInstance()); // still serving
            assertEquals(1, crash.bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
            assertEquals(List.of(), halfWritten(crash.dir.resolve("root")));

            crash.bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(filler).build());
            String again = crash.bed.createAndStart(podId, pod, container("after", "sleep", "300")); // space is back
            assertEquals(ContainerState.CONTAINER_RUNNING, crash.bed.status(again).getState());
            crash.bed.removePod(podId);
            assertEquals(List.of(), crash.leaks());
        }
    }

    @Test
    void aPullIntoAFullRootIsResourceExhaustedAndLeavesNothing() throws Exception {
        try (CrashBed crash = CrashBed.start("", 40L << 20)) {
            crash.pushLayeredImage("library/toobig", 64, 4);
            ImageSpec big = ImageSpec.newBuilder().setImage("docker.io/library/toobig:1").build();
            var images = crash.daemon().images();
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> images.pullImage(PullImageRequest.newBuilder().setImage(big).build()));
            System.out.println("NodeFaultIT: PullImage into a full root: " + e.getStatus());
            assertEquals(io.grpc.Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().startsWith("PullImage: out of disk space: "), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("No space left on device"), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("docker.io/library/toobig@sha256:"), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("writing " + crash.dir.resolve("root/ingest")), e.getStatus().toString());
            assertTrue(!images.imageStatus(ImageStatusRequest.newBuilder().setImage(big).build()).hasImage());
            crash.bed.runtime().version(VersionRequest.getDefaultInstance()); // still serving
            assertEquals(List.of(), crash.leaks()); // no partial, temp snapshot or unreferenced blob of the failed pull

            // Space is back for what fits: a small image pulls and runs.
            crash.pushLayeredImage("library/small", 1, 1);
            PodSandboxConfig pod = crash.bed.pod("afterfull").build();
            String podId = crash.bed.runPod(pod);
            images.pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage("docker.io/library/small:1")).build());
            String id = crash.bed.createAndStart(podId, pod, container("small", "sleep", "300")
                    .setImage(ImageSpec.newBuilder().setImage("docker.io/library/small:1")));
            assertEquals(ContainerState.CONTAINER_RUNNING, crash.bed.status(id).getState());
            crash.bed.removePod(podId);
            images.removeImage(RemoveImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage("docker.io/library/small:1")).build());
            assertEquals(List.of(), crash.leaks());
        }
    }

    /** Temp files of atomic writes, and container dirs with neither record nor intent. */
    private static List<String> halfWritten(Path root) throws Exception {
        try (Stream<Path> w = io.coracle.testing.DaemonProcess.filesOf(root.resolve("containers")).stream()) {
            return w.filter(p -> p.getFileName().toString().endsWith(".tmp")
                    || (p.getParent().equals(root.resolve("containers")) && Files.isDirectory(p)
                    && !Files.exists(p.resolve("meta.json")))).map(Path::toString).toList();
        }
    }

    /** The coracle-shim serving this container (its --state dir is named by the id's first 16 characters). */
    private static long shimPid(Path dir, String id) throws Exception {
        String state = dir.resolve("state/ctr").resolve(id.substring(0, 16)).toString();
        try (Stream<Path> ps = Files.list(Path.of("/proc"))) {
            for (Path p : ps.filter(x -> x.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    List<String> args = List.of(Files.readString(p.resolve("cmdline")).split("\0"));
                    if (args.contains(state) && Files.readString(p.resolve("comm")).trim().startsWith("coracle-shim")) {
                        return Long.parseLong(p.getFileName().toString());
                    }
                } catch (Exception gone) {
                    // exited meanwhile
                }
            }
        }
        throw new AssertionError("no shim for " + state);
    }
}
