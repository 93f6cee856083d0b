package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatsRequest;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.ListContainerStatsRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.testing.CriTestbed;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * CreateContainer makes no process; StartContainer has the shim make it (as containerd runs runc
 * create there). A created, never started container is CREATED with no process, state dir or cgroup,
 * also across a daemon crash; stop leaves it created, an update applies when it starts, remove leaves
 * nothing; a start whose shim fails answers the create's old error and leaves it EXITED (StartError).
 */
class UnstartedContainerIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final boolean V2 = Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"));
    static CriTestbed bed;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    private static JsonNode info(String id) throws Exception {
        return JSON.readTree(bed.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id)
                .setVerbose(true).build()).getInfoOrThrow("info"));
    }

    private static Path memoryCgroup(JsonNode info) {
        return Path.of(V2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory").resolve(info.get("cgroupPath").asText().substring(1));
    }

    private static void startIt(String id) {
        bed.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
    }

    @Test
    @Tag("cgroup")
    void aNeverStartedContainerHasNoProcessStopLeavesItAndAnUpdateAppliesAtStart() throws Exception {
        PodSandboxConfig pod = bed.pod("unstarted").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.create(podId, pod, container("later", "sleep", "300"));
            ContainerStatus s = bed.status(id);
            assertEquals(ContainerState.CONTAINER_CREATED, s.getState());
            assertTrue(s.getCreatedAt() > 0);
            assertEquals(0, s.getStartedAt());
            JsonNode info = info(id);
            assertEquals(0, info.get("pid").asInt(), "no process before StartContainer");
            assertFalse(Files.exists(Path.of(info.get("stateDir").asText())), "no shim before StartContainer");
            assertFalse(Files.exists(memoryCgroup(info)), "no cgroup before StartContainer");
            assertEquals(ContainerState.CONTAINER_CREATED, bed.runtime().listContainers(ListContainersRequest
                    .getDefaultInstance()).getContainersList().stream().filter(c -> c.getId().equals(id)).findFirst()
                    .orElseThrow().getState());

            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runtime().execSync(
                    ExecSyncRequest.newBuilder().setContainerId(id).addCmd("true").setTimeout(5).build()));
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
            // Stats of a container without a cgroup: an answer, no error; the list keeps to running ones.
            assertEquals(id, bed.runtime().containerStats(ContainerStatsRequest.newBuilder().setContainerId(id).build())
                    .getStats().getAttributes().getId());
            assertTrue(bed.runtime().listContainerStats(ListContainerStatsRequest.getDefaultInstance()).getStatsList()
                    .stream().noneMatch(c -> c.getAttributes().getId().equals(id)));

            // StopContainer of a container that never ran: nothing to stop, it stays created (containerd's answer).
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(0).build());
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(0).build());
            assertEquals(ContainerState.CONTAINER_CREATED, bed.status(id).getState());

            LinuxContainerResources limits = LinuxContainerResources.newBuilder().setMemoryLimitInBytes(77L << 20)
                    .setCpuPeriod(100_000).setCpuQuota(30_000).build();
            bed.runtime().updateContainerResources(UpdateContainerResourcesRequest.newBuilder().setContainerId(id)
                    .setLinux(limits).build());
            assertEquals(77L << 20, bed.status(id).getResources().getLinux().getMemoryLimitInBytes());
            assertEquals(ContainerState.CONTAINER_CREATED, bed.status(id).getState());

            startIt(id);
            assertEquals(ContainerState.CONTAINER_RUNNING, bed.status(id).getState());
            info = info(id);
            assertTrue(info.get("pid").asInt() > 0);
            assertEquals(String.valueOf(77L << 20), Files.readString(memoryCgroup(info)
                    .resolve(V2 ? "memory.max" : "memory.limit_in_bytes")).trim(), "the update made before start holds");
            e = assertThrows(StatusRuntimeException.class, () -> startIt(id));
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), "a second start is refused");
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void removingANeverStartedContainerLeavesNothingAndACrashKeepsItCreated() throws Exception {
        PodSandboxConfig pod = bed.pod("unstarted-remove").build();
        String podId = bed.runPod(pod);
        boolean podRemoved = false;
        try {
            String gone = bed.create(podId, pod, container("gone", "sleep", "300"));
            Path goneDir = Path.of(info(gone).get("bundle").asText()).getParent();
            assertTrue(Files.isDirectory(goneDir));
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(gone).build());
            assertFalse(Files.exists(goneDir), "the container's directory is removed");
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.status(gone));
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());

            String kept = bed.create(podId, pod, container("kept", "sleep", "300"));
            bed.crashAndRestartDaemon();
            assertEquals(ContainerState.CONTAINER_CREATED, bed.status(kept).getState(), "created across a crash");
            startIt(kept);
            assertEquals(ContainerState.CONTAINER_RUNNING, bed.status(kept).getState());

            // StopPodSandbox and RemovePodSandbox take a never-started container with them.
            String left = bed.create(podId, pod, container("left", "sleep", "300"));
            Path leftDir = Path.of(info(left).get("bundle").asText()).getParent();
            bed.removePod(podId);
            podRemoved = true;
            assertFalse(Files.exists(leftDir));
            StatusRuntimeException gone2 = assertThrows(StatusRuntimeException.class, () -> bed.status(left));
            assertEquals(Status.Code.NOT_FOUND, gone2.getStatus().getCode());
        } finally {
            if (!podRemoved) {
                bed.removePod(podId);
            }
        }
    }

    /**
     * A daemon killed in StartContainer after the shim made the process, before the start plan went:
     * built here by putting the plan back under a running container. Start-up kills that shim and its
     * cgroup; the container is CREATED again, and starts.
     */
    @Test
    void aStartACrashInterruptedIsUndoneAndTheContainerStaysCreated() throws Exception {
        PodSandboxConfig pod = bed.pod("half-started").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("half", "sleep", "300"));
            JsonNode info = info(id);
            int pid = info.get("pid").asInt();
            int shimPid = info.get("shimPid").asInt();
            Path dir = Path.of(info.get("bundle").asText()).getParent();
            Files.writeString(dir.resolve(ContainerStartPlan.FILE), "{\"targetPidns\":null,\"restorePlan\":null}");
            bed.crashAndRestartDaemon();
            assertEquals(ContainerState.CONTAINER_CREATED, bed.status(id).getState());
            assertTrue(ended(pid), "the half-made container's process is killed");
            assertTrue(ended(shimPid), "and its shim");
            assertFalse(Files.exists(Path.of(info.get("stateDir").asText())));
            assertFalse(Files.exists(memoryCgroup(info)));
            startIt(id);
            assertEquals(ContainerState.CONTAINER_RUNNING, bed.status(id).getState());
        } finally {
            bed.removePod(podId);
        }
    }

    /** Gone, or a zombie its reaper has not collected yet (the killed shim was reparented), within 5 s. */
    private static boolean ended(int pid) throws InterruptedException {
        for (int i = 0; i < 250; i++) {
            try {
                String stat = Files.readString(Path.of("/proc", String.valueOf(pid), "stat"));
                if (stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z")) {
                    return true;
                }
            } catch (java.io.IOException gone) {
                return true;
            }
            Thread.sleep(20);
        }
        return false;
    }

    /** What failed CreateContainer in the shim fails StartContainer with the same code; the kubelet sees StartError. */
    @Test
    void aStartWhoseShimFailsAnswersTheErrorAndLeavesTheContainerExited() throws Exception {
        PodSandboxConfig pod = bed.pod("start-error").build();
        String podId = bed.runPod(pod);
        try {
            // The shim looks the command up in the rootfs it builds: the request's fault, found at start.
            String id = bed.create(podId, pod, container("bad", "no-such-command-coracle"));
            assertEquals(ContainerState.CONTAINER_CREATED, bed.status(id).getState());
            JsonNode info = info(id);
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> startIt(id));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("'no-such-command-coracle' not found in the image"),
                    e.getStatus().getDescription());

            ContainerStatus s = bed.status(id);
            assertEquals(ContainerState.CONTAINER_EXITED, s.getState());
            assertEquals("StartError", s.getReason());
            assertEquals(128, s.getExitCode());
            assertTrue(s.getMessage().contains("'no-such-command-coracle' not found in the image"), s.getMessage());
            assertTrue(s.getFinishedAt() > 0);
            assertEquals(0, s.getStartedAt());
            assertFalse(Files.exists(Path.of(info.get("stateDir").asText())), "no shim state left");
            assertFalse(Files.exists(memoryCgroup(info)), "no cgroup left");
            e = assertThrows(StatusRuntimeException.class, () -> startIt(id));
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());

            bed.crashAndRestartDaemon();
            assertEquals("StartError", bed.status(id).getReason(), "kept across a restart");
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
            assertFalse(Files.exists(Path.of(info.get("bundle").asText()).getParent()));
        } finally {
            bed.removePod(podId);
        }
    }
}
