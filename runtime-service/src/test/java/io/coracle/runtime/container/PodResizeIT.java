package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.cri.v1.UpdatePodSandboxResourcesRequest;
import io.coracle.testing.CriTestbed;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** UpdatePodSandboxResources through the daemon, as the kubelet's in-place pod resize sends it. */
class PodResizeIT {
    static CriTestbed bed;
    static final boolean V2 = Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"));

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

    /** The cgroup directory (in the memory hierarchy on v1) whose path ends with name. */
    private static Path cgroupDir(String controller, String name) throws Exception {
        Path root = Path.of(V2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/" + controller).resolve(bed.cgroupParent().substring(1));
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(p -> p.getFileName().toString().equals(name) || p.getFileName().toString().equals("pod-" + name))
                    .findFirst().orElseThrow();
        }
    }

    private static String read(Path p) throws Exception {
        return Files.readString(p).trim();
    }

    @Test
    void thePodCgroupIsResizedLiveAndTheContainersOwnUpdatesKeepWorking() throws Exception {
        PodSandboxConfig.Builder b = bed.pod("resize");
        b.getLinuxBuilder().setResources(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(64L << 20).setCpuShares(256));
        PodSandboxConfig pod = b.build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("app", "sleep", "300"));
            bed.runtime().updatePodSandboxResources(UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId(podId)
                    .setResources(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(200L << 20).setCpuShares(1024)
                            .setCpuQuota(150_000).setCpuPeriod(100_000))
                    .setOverhead(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(10L << 20)).build());
            Path podMem = cgroupDir("memory", podId);
            assertEquals(String.valueOf(210L << 20), read(podMem.resolve(V2 ? "memory.max" : "memory.limit_in_bytes")));
            Path podCpu = cgroupDir("cpu", podId);
            assertEquals(V2 ? "150000 100000" : "150000", read(podCpu.resolve(V2 ? "cpu.max" : "cpu.cfs_quota_us")));

            // The container's own limits, under the resized pod: UpdateContainerResources still applies them.
            bed.runtime().updateContainerResources(UpdateContainerResourcesRequest.newBuilder().setContainerId(id)
                    .setLinux(LinuxContainerResources.newBuilder().setCpuQuota(50_000).setCpuPeriod(100_000)
                            .setMemoryLimitInBytes(100L << 20)).build());
            Path ctrCpu = cgroupDir("cpu", id);
            assertTrue(ctrCpu.startsWith(podCpu), ctrCpu + " under " + podCpu);
            assertEquals(V2 ? "50000 100000" : "50000", read(ctrCpu.resolve(V2 ? "cpu.max" : "cpu.cfs_quota_us")));
            assertEquals(String.valueOf(100L << 20), read(cgroupDir("memory", id).resolve(V2 ? "memory.max" : "memory.limit_in_bytes")));
            assertEquals(100L << 20, bed.status(id).getResources().getLinux().getMemoryLimitInBytes());
            // The container runs on.
            assertEquals("ok\n", bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                    .addAllCmd(List.of("echo", "ok")).setTimeout(10).build()).getStdout().toString(StandardCharsets.UTF_8));

            StatusRuntimeException bad = assertThrows(StatusRuntimeException.class, () -> bed.runtime()
                    .updatePodSandboxResources(UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId(podId)
                            .setResources(LinuxContainerResources.newBuilder().setCpuPeriod(999)).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, bad.getStatus().getCode());
            assertTrue(bad.getStatus().getDescription().contains("resources.cpu_period"), bad.getStatus().getDescription());
            assertEquals(V2 ? "150000 100000" : "150000", read(podCpu.resolve(V2 ? "cpu.max" : "cpu.cfs_quota_us")));
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void anUnknownPodIsNotFound() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runtime().updatePodSandboxResources(
                UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId("feedfacefeedface")
                        .setResources(LinuxContainerResources.newBuilder().setCpuShares(512)).build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("sandbox feedfacefeedface not found"), e.getStatus().getDescription());
    }
}
