package io.coracle.runtime.cri;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.HugepageLimit;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.NetworkConfig;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PortMapping;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RuntimeConfig;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.cri.v1.UpdateRuntimeConfigRequest;
import io.coracle.testing.CriTestbed;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Malformed requests through the real daemon: INVALID_ARGUMENT naming the field, and nothing
 * half-created left behind (no pod, container, cgroup, mount or file under the daemon's dirs);
 * stop of an unknown pod or container succeeds, status stays NOT_FOUND.
 */
class MalformedRequestIT {
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

    /** A huge page size this host does not have (hosts differ: some have 1GB pages, some not). */
    private static String absentHugepageSize() {
        for (String size : List.of("1GB", "32MB", "16GB")) {
            long kib = size.endsWith("GB") ? Long.parseLong(size.replace("GB", "")) << 20
                    : Long.parseLong(size.replace("MB", "")) << 10;
            if (!Files.isDirectory(Path.of("/sys/kernel/mm/hugepages/hugepages-" + kib + "kB"))) {
                return size;
            }
        }
        throw new AssertionError("this host has 1GB, 32MB and 16GB huge pages");
    }

    private static void invalid(String field, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run, field);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().startsWith(field + ": "), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().length() < 1000, "the answer does not echo a huge value");
    }

    /** Everything a refused request could have left: cgroups, mounts, files under the daemon's root and state. */
    private static List<String> traces() throws IOException {
        TreeSet<String> seen = new TreeSet<>();
        try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path h : hierarchies.toList()) {
                Path d = h.resolve(bed.cgroupParent().substring(1));
                if (Files.isDirectory(d)) {
                    try (Stream<Path> s = Files.walk(d)) {
                        s.filter(Files::isDirectory).forEach(p -> seen.add("cgroup " + p));
                    }
                }
            }
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            if (line.contains(bed.daemon.dir().toString())) {
                seen.add("mount " + line.split(" ")[4]);
            }
        }
        for (String sub : List.of("root", "state")) {
            try (Stream<Path> s = io.coracle.testing.DaemonProcess.filesOf(bed.daemon.dir().resolve(sub)).stream()) {
                s.filter(p -> !p.toString().contains("/content/") && !p.toString().contains("/snapshots/"))
                        .forEach(p -> seen.add("file " + p));
            }
        }
        seen.add("pods " + bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
        seen.add("containers " + bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
        return new ArrayList<>(seen);
    }

    private static PodSandboxConfig.Builder pod(Consumer<PodSandboxConfig.Builder> change) {
        PodSandboxConfig.Builder b = bed.pod("malformed");
        change.accept(b);
        return b;
    }

    @Test
    void stopOfAnUnknownPodOrContainerSucceedsAndStatusStaysNotFound() {
        String unknown = "feedface".repeat(8);
        bed.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(unknown).build());
        bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(unknown).setTimeout(1).build());
        bed.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(unknown).build());
        bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(unknown).build());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runtime().podSandboxStatus(
                PodSandboxStatusRequest.newBuilder().setPodSandboxId(unknown).build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        e = assertThrows(StatusRuntimeException.class, () -> bed.runtime().containerStatus(
                ContainerStatusRequest.newBuilder().setContainerId(unknown).build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        invalid("pod_sandbox_id", () -> bed.runtime().stopPodSandbox(StopPodSandboxRequest.getDefaultInstance()));
        invalid("container_id", () -> bed.runtime().stopContainer(StopContainerRequest.getDefaultInstance()));
        invalid("container_id", () -> bed.runtime().removeContainer(RemoveContainerRequest.getDefaultInstance()));
    }

    @Test
    void malformedPodsAreRefusedAndLeaveNothing() throws Exception {
        List<String> before = traces();
        String mib = "p".repeat(1024 * 1024);
        List<Object[]> cases = List.of(
                new Object[] {"config.metadata.name", pod(b -> b.getMetadataBuilder().setName(mib))},
                new Object[] {"config.metadata.name", pod(b -> b.getMetadataBuilder().setName("a/b"))},
                new Object[] {"config.metadata.namespace", pod(b -> b.getMetadataBuilder().setNamespace(".."))},
                new Object[] {"config.metadata.uid", pod(b -> b.getMetadataBuilder().setUid(""))},
                new Object[] {"config.log_directory", pod(b -> b.setLogDirectory("var/log/pods/x"))},
                new Object[] {"config.log_directory", pod(b -> b.setLogDirectory("/var/log/pods/../../../etc"))},
                new Object[] {"config.linux.cgroup_parent", pod(b -> b.getLinuxBuilder().setCgroupParent("kubepods/pod1"))},
                new Object[] {"config.linux.cgroup_parent", pod(b -> b.getLinuxBuilder().setCgroupParent(bed.cgroupParent() + "/../x"))},
                new Object[] {"config.port_mappings[0].host_port", pod(b -> b.addPortMappings(PortMapping.newBuilder()
                        .setContainerPort(80).setHostPort(70000)))},
                new Object[] {"config.port_mappings[0].host_ip", pod(b -> b.addPortMappings(PortMapping.newBuilder()
                        .setContainerPort(80).setHostPort(8080).setHostIp("not-an-ip")))},
                new Object[] {"config.hostname", pod(b -> b.setHostname("bad host"))},
                new Object[] {"config.linux.sysctls", pod(b -> b.getLinuxBuilder().putSysctls("kernel.hostname", "x"))},
                new Object[] {"config.linux.resources.cpuset_cpus", pod(b -> b.getLinuxBuilder().setResources(
                        LinuxContainerResources.newBuilder().setCpusetCpus("0-9999")))},
                new Object[] {"config.linux.overhead.hugepage_limits[0].page_size", pod(b -> b.getLinuxBuilder().setOverhead(
                        LinuxContainerResources.newBuilder().addHugepageLimits(HugepageLimit.newBuilder().setPageSize("3MB"))))},
                new Object[] {"runtime_handler", pod(b -> {})});
        for (Object[] c : cases) {
            RunPodSandboxRequest.Builder r = RunPodSandboxRequest.newBuilder().setConfig((PodSandboxConfig.Builder) c[1]);
            if (c[0].equals("runtime_handler")) {
                r.setRuntimeHandler("no-such-handler");
            }
            invalid((String) c[0], () -> bed.runtime().runPodSandbox(r.build()));
        }
        assertEquals(before, traces());
    }

    @Test
    void malformedContainersAreRefusedAndLeaveNothing() throws Exception {
        PodSandboxConfig pod = bed.pod("ctr-bad").build();
        String podId = bed.runPod(pod);
        try {
            List<String> before = traces();
            String mib = "a".repeat(1024 * 1024);
            List<Object[]> cases = List.of(
                    new Object[] {"config.metadata.name", container("a/b", "true")},
                    new Object[] {"config.metadata.name", container(mib, "true")},
                    new Object[] {"config.image.image", container("c", "true").setImage(ImageSpec.newBuilder().setImage(""))},
                    new Object[] {"config.args[0]", container("c", "echo").addArgs(mib)},
                    new Object[] {"config.working_dir", container("c", "true").setWorkingDir("tmp")},
                    new Object[] {"config.mounts[0].container_path", container("c", "true").addMounts(Mount.newBuilder()
                            .setContainerPath("data").setHostPath("/tmp"))},
                    new Object[] {"config.mounts[0].host_path", container("c", "true").addMounts(Mount.newBuilder()
                            .setContainerPath("/data").setHostPath("/tmp/../etc"))},
                    new Object[] {"config.mounts[0].propagation", container("c", "true").addMounts(Mount.newBuilder()
                            .setContainerPath("/data").setHostPath("/tmp").setPropagationValue(42))},
                    new Object[] {"config.log_path", container("c", "true").setLogPath("../../escape.log")},
                    new Object[] {"config.log_path", container("c", "true").setLogPath("/etc/escape.log")},
                    new Object[] {"config.linux.resources.cpuset_cpus", withResources(LinuxContainerResources.newBuilder()
                            .setCpusetCpus("garbage"))},
                    new Object[] {"config.linux.resources.cpuset_cpus", withResources(LinuxContainerResources.newBuilder()
                            .setCpusetCpus("4095"))},
                    new Object[] {"config.linux.resources.cpu_period", withResources(LinuxContainerResources.newBuilder()
                            .setCpuPeriod(5))},
                    new Object[] {"config.linux.resources.hugepage_limits[0].page_size", withResources(
                            LinuxContainerResources.newBuilder().addHugepageLimits(HugepageLimit.newBuilder()
                                    .setPageSize(absentHugepageSize()).setLimit(1L << 30)))});
            for (Object[] c : cases) {
                invalid((String) c[0], () -> bed.create(podId, pod, (ContainerConfig.Builder) c[1]));
            }
            invalid("pod_sandbox_id", () -> bed.runtime().createContainer(CreateContainerRequest.newBuilder()
                    .setConfig(container("c", "true")).build()));
            assertEquals(before, traces());
            // The name was not left reserved by any refusal.
            String ok = bed.create(podId, pod, container("c", "true"));
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ok).build());
        } finally {
            bed.removePod(podId);
        }
    }

    private static ContainerConfig.Builder withResources(LinuxContainerResources.Builder r) {
        return container("c", "true").setLinux(LinuxContainerConfig.newBuilder().setResources(r));
    }

    @Test
    void updateResourcesAndExecSyncRefuseMalformedRequestsAndTheContainerRunsOn() throws Exception {
        PodSandboxConfig pod = bed.pod("exec-bad").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("sleeper", "sleep", "300"));
            for (String cpus : List.of("garbage", "0-", "4095", "1-0")) {
                invalid("linux.cpuset_cpus", () -> bed.runtime().updateContainerResources(UpdateContainerResourcesRequest
                        .newBuilder().setContainerId(id).setLinux(LinuxContainerResources.newBuilder().setCpusetCpus(cpus)).build()));
            }
            invalid("linux.cpu_quota", () -> bed.runtime().updateContainerResources(UpdateContainerResourcesRequest
                    .newBuilder().setContainerId(id).setLinux(LinuxContainerResources.newBuilder().setCpuQuota(-5)).build()));
            // A command that does not exist: INVALID_ARGUMENT naming it (the shim says the command is at fault).
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> exec(id, "/bin/no-such-command"));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().startsWith("cmd: '/bin/no-such-command' cannot be run"), e.getStatus().getDescription());
            e = assertThrows(StatusRuntimeException.class, () -> exec(id, "no-such-command-on-path"));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("no-such-command-on-path"), e.getStatus().getDescription());
            // A file that is not executable.
            e = assertThrows(StatusRuntimeException.class, () -> exec(id, "/etc/passwd"));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            // A 1 MiB argument: refused clearly; 100 KiB runs.
            invalid("cmd[1]", () -> exec(id, "echo", "a".repeat(1024 * 1024)));
            invalid("cmd", () -> exec(id));
            invalid("timeout", () -> bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                    .addCmd("true").setTimeout(-1).build()));
            ExecSyncResponse big = exec(id, "sh", "-c", "printf %s \"$1\" | wc -c", "sh", "b".repeat(100 * 1024));
            assertEquals(0, big.getExitCode(), big.getStderr().toStringUtf8());
            assertEquals(String.valueOf(100 * 1024), big.getStdout().toString(StandardCharsets.UTF_8).trim());
            // Still running, its cpuset untouched.
            assertEquals(io.coracle.cri.v1.ContainerState.CONTAINER_RUNNING, bed.status(id).getState());
            assertEquals(0, exec(id, "true").getExitCode());
        } finally {
            bed.removePod(podId);
        }
    }

    private static ExecSyncResponse exec(String id, String... cmd) {
        return bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd))
                .setTimeout(30).build());
    }

    @Test
    void malformedImageReferencesAndRuntimeConfig() {
        for (String ref : List.of("Not A Reference!!", "docker.io/library/busybox:" + "t".repeat(1024 * 1024), "busybox@sha256:xyz")) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.daemon.images().pullImage(
                    PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(ref)).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().length() < 2000, "the answer does not echo a huge reference");
        }
        invalid("runtime_config.network_config.pod_cidr", () -> bed.runtime().updateRuntimeConfig(UpdateRuntimeConfigRequest
                .newBuilder().setRuntimeConfig(RuntimeConfig.newBuilder().setNetworkConfig(NetworkConfig.newBuilder()
                        .setPodCidr("10.0.0.0/40"))).build()));
    }
}
