package io.coracle.runtime.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.coracle.cri.v1.AttachRequest;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerMetadata;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.Device;
import io.coracle.cri.v1.ExecRequest;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.HugepageLimit;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.KeyValue;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.NetworkConfig;
import io.coracle.cri.v1.PortForwardRequest;
import io.coracle.cri.v1.RuntimeConfig;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.cri.v1.UpdateRuntimeConfigRequest;
import io.coracle.sandbox.HostResources;
import io.coracle.sandbox.InvalidRequestException;
import io.coracle.sandbox.LinuxResourcesValidator;
import java.util.BitSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** Each class of malformed container-side request: refused, naming the field path. */
class CriRequestValidatorTest {
    /** A host with CPUs 0-3, memory node 0 and 2 MiB huge pages. */
    private static final HostResources HOST = new HostResources(cpus(0, 4), cpus(0, 1), Set.of(2048L));
    private final CriRequestValidator v1 = new CriRequestValidator(new LinuxResourcesValidator(HOST, false));
    private final CriRequestValidator v2 = new CriRequestValidator(new LinuxResourcesValidator(HOST, true));

    private static BitSet cpus(int from, int to) {
        BitSet b = new BitSet();
        b.set(from, to);
        return b;
    }

    private static CreateContainerRequest.Builder create() {
        return CreateContainerRequest.newBuilder().setPodSandboxId("abc").setConfig(ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName("c"))
                .setImage(ImageSpec.newBuilder().setImage("docker.io/library/busybox:latest"))
                .addCommand("sleep").addArgs("1").setLogPath("c/0.log"));
    }

    private void refusedCreate(String field, UnaryOperator<ContainerConfig.Builder> change) {
        CreateContainerRequest.Builder r = create();
        change.apply(r.getConfigBuilder());
        refused(field, () -> v1.createContainer(r.build()));
    }

    private static void refused(String field, Runnable check) {
        InvalidRequestException e = assertThrows(InvalidRequestException.class, check::run);
        assertEquals(field, e.field(), e.getMessage());
        assertTrue(e.getMessage().startsWith(field + ": "), e.getMessage());
        assertTrue(e.getMessage().length() < 600, "the message never echoes a huge value: " + e.getMessage().length());
    }

    private static LinuxContainerConfig.Builder res(LinuxContainerResources.Builder r) {
        return LinuxContainerConfig.newBuilder().setResources(r);
    }

    @Test
    void aWellFormedCreateIsAccepted() {
        v1.createContainer(create().build());
        CreateContainerRequest.Builder r = create();
        r.getConfigBuilder().addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath("/srv/data"))
                .addDevices(Device.newBuilder().setContainerPath("/dev/fuse").setHostPath("/dev/fuse").setPermissions("rw"))
                .setWorkingDir("/app").addEnvs(KeyValue.newBuilder().setKey("A").setValue(ByteString.copyFromUtf8("1")))
                .setLinux(res(LinuxContainerResources.newBuilder().setCpusetCpus("0-1,3").setCpusetMems("0")
                        .setCpuPeriod(100000).setCpuQuota(50000).setCpuShares(1024).setMemoryLimitInBytes(64 << 20)
                        .addHugepageLimits(HugepageLimit.newBuilder().setPageSize("2MB").setLimit(1 << 21))));
        v1.createContainer(r.build());
    }

    @Test
    void metadataImageAndIds() {
        refused("pod_sandbox_id", () -> v1.createContainer(create().setPodSandboxId("").build()));
        refused("config", () -> v1.createContainer(create().clearConfig().build()));
        refusedCreate("config.metadata", c -> c.clearMetadata());
        refusedCreate("config.metadata.name", c -> c.setMetadata(ContainerMetadata.newBuilder().setName("")));
        refusedCreate("config.metadata.name", c -> c.setMetadata(ContainerMetadata.newBuilder().setName("a/b")));
        refusedCreate("config.metadata.name", c -> c.setMetadata(ContainerMetadata.newBuilder().setName("..")));
        refusedCreate("config.metadata.name", c -> c.setMetadata(ContainerMetadata.newBuilder().setName("x".repeat(1 << 20))));
        refusedCreate("config.metadata.attempt", c -> c.setMetadata(ContainerMetadata.newBuilder().setName("c").setAttempt(-1)));
        refusedCreate("config.image.image", c -> c.setImage(ImageSpec.getDefaultInstance()));
        refusedCreate("config.image.image", c -> c.setImage(ImageSpec.newBuilder().setImage("busybox\nlatest")));
        refused("container_id", () -> v1.id("container_id", ""));
        refused("container_id", () -> v1.stopContainer("", 0));
        refused("timeout", () -> v1.stopContainer("abc", -1));
    }

    @Test
    void commandArgsAndEnvironmentWithinExecveLimits() {
        String mib = "a".repeat(1 << 20);
        refusedCreate("config.command[0]", c -> c.clearCommand().addCommand(mib));
        refusedCreate("config.args[1]", c -> c.addArgs(mib));
        refusedCreate("config.args[0]", c -> c.clearArgs().addArgs("a\0b"));
        refusedCreate("config.envs[0].key", c -> c.addEnvs(KeyValue.newBuilder().setKey("")));
        refusedCreate("config.envs[0].key", c -> c.addEnvs(KeyValue.newBuilder().setKey("A=B")));
        refusedCreate("config.envs[0]", c -> c.addEnvs(KeyValue.newBuilder().setKey("A").setValue(ByteString.copyFromUtf8(mib))));
        // Each argument within MAX_ARG_STRLEN, but too many of them together.
        refusedCreate("config.command", c -> {
            for (int i = 0; i < 10; i++) {
                c.addArgs("b".repeat(120_000));
            }
            return c;
        });
    }

    @Test
    void pathsMountsDevicesAndLogPath() {
        refusedCreate("config.working_dir", c -> c.setWorkingDir("relative"));
        refusedCreate("config.working_dir", c -> c.setWorkingDir("/app/../.."));
        refusedCreate("config.mounts[0].container_path", c -> c.addMounts(Mount.newBuilder().setContainerPath("data").setHostPath("/srv")));
        refusedCreate("config.mounts[0].container_path", c -> c.addMounts(Mount.newBuilder().setContainerPath("/data/../etc").setHostPath("/srv")));
        refusedCreate("config.mounts[0].host_path", c -> c.addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath("srv")));
        refusedCreate("config.mounts[0].host_path", c -> c.addMounts(Mount.newBuilder().setContainerPath("/data")));
        refusedCreate("config.mounts[0].propagation", c -> c.addMounts(Mount.newBuilder().setContainerPath("/data")
                .setHostPath("/srv").setPropagationValue(9)));
        refusedCreate("config.devices[0].container_path", c -> c.addDevices(Device.newBuilder().setContainerPath("/etc/x").setHostPath("/dev/null")));
        refusedCreate("config.devices[0].host_path", c -> c.addDevices(Device.newBuilder().setContainerPath("/dev/x").setHostPath("dev/null")));
        refusedCreate("config.devices[0].permissions", c -> c.addDevices(Device.newBuilder().setContainerPath("/dev/x")
                .setHostPath("/dev/null").setPermissions("rwx")));
        refusedCreate("config.log_path", c -> c.setLogPath("/var/log/x.log"));
        refusedCreate("config.log_path", c -> c.setLogPath("../../etc/cron.d/x"));
        refusedCreate("config.labels", c -> c.putLabels("", "v"));
        refusedCreate("config.annotations", c -> c.putAnnotations("k", "v".repeat(600 * 1024)));
        refusedCreate("config.stop_signal", c -> c.setStopSignalValue(999));
    }

    @Test
    void resourcesAgainstKernelRangesAndThisHost() {
        String p = "config.linux.resources.";
        refusedCreate(p + "cpuset_cpus", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpusetCpus("garbage"))));
        refusedCreate(p + "cpuset_cpus", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpusetCpus("3-1"))));
        refusedCreate(p + "cpuset_cpus", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpusetCpus("0,64"))));
        CreateContainerRequest.Builder wide = create();
        wide.getConfigBuilder().setLinux(res(LinuxContainerResources.newBuilder().setCpusetCpus("2-99999")));
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> v1.createContainer(wide.build()));
        assertEquals(p + "cpuset_cpus: '2-99999' names 4-99999, not among this host's online CPUs 0-3", e.getMessage());
        refusedCreate(p + "cpuset_mems", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpusetMems("1"))));
        refusedCreate(p + "cpu_period", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpuPeriod(999))));
        refusedCreate(p + "cpu_period", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpuPeriod(2_000_000))));
        refusedCreate(p + "cpu_quota", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpuQuota(-2))));
        refusedCreate(p + "cpu_quota", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpuQuota(10))));
        refusedCreate(p + "cpu_shares", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpuShares(-1))));
        refusedCreate(p + "cpu_shares", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setCpuShares(1 << 20))));
        refusedCreate(p + "memory_limit_in_bytes", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(100))));
        refusedCreate(p + "memory_swap_limit_in_bytes", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setMemorySwapLimitInBytes(-2))));
        refusedCreate(p + "oom_score_adj", c -> c.setLinux(res(LinuxContainerResources.newBuilder().setOomScoreAdj(1001))));
        refusedCreate(p + "hugepage_limits[0].page_size", c -> c.setLinux(res(LinuxContainerResources.newBuilder()
                .addHugepageLimits(HugepageLimit.newBuilder().setPageSize("1GB").setLimit(1L << 30)))));
        refusedCreate(p + "hugepage_limits[0].page_size", c -> c.setLinux(res(LinuxContainerResources.newBuilder()
                .addHugepageLimits(HugepageLimit.newBuilder().setPageSize("huge")))));
        refusedCreate(p + "unified", c -> c.setLinux(res(LinuxContainerResources.newBuilder().putUnified("memory.high", "1M"))));
        // On cgroup v2: file names only, and not the core files that move processes.
        for (String key : List.of("../escape", "cgroup.procs", "cgroup.subtree_control", "memory", "a/b.c")) {
            CreateContainerRequest.Builder r = create();
            r.getConfigBuilder().setLinux(res(LinuxContainerResources.newBuilder().putUnified(key, "1")));
            refused(p + "unified", () -> v2.createContainer(r.build()));
        }
        CreateContainerRequest.Builder ok = create();
        ok.getConfigBuilder().setLinux(res(LinuxContainerResources.newBuilder().putUnified("memory.high", "64M")
                .putUnified("hugetlb.2MB.max", "0")));
        v2.createContainer(ok.build());
    }

    @Test
    void updateExecStreamingAndRuntimeConfig() {
        refused("linux.cpuset_cpus", () -> v1.updateContainerResources(UpdateContainerResourcesRequest.newBuilder()
                .setContainerId("abc").setLinux(LinuxContainerResources.newBuilder().setCpusetCpus("x")).build()));
        refused("linux.cpuset_cpus", () -> v1.updateContainerResources(UpdateContainerResourcesRequest.newBuilder()
                .setContainerId("abc").setLinux(LinuxContainerResources.newBuilder().setCpusetCpus("7")).build()));
        refused("container_id", () -> v1.updateContainerResources(UpdateContainerResourcesRequest.getDefaultInstance()));
        refused("cmd", () -> v1.execSync(ExecSyncRequest.newBuilder().setContainerId("abc").build()));
        refused("cmd", () -> v1.execSync(ExecSyncRequest.newBuilder().setContainerId("abc").addCmd("").build()));
        refused("cmd[1]", () -> v1.execSync(ExecSyncRequest.newBuilder().setContainerId("abc").addCmd("echo")
                .addCmd("a".repeat(1 << 20)).build()));
        refused("timeout", () -> v1.execSync(ExecSyncRequest.newBuilder().setContainerId("abc").addCmd("true").setTimeout(-1).build()));
        refused("cmd", () -> v1.exec(ExecRequest.newBuilder().setContainerId("abc").setStdout(true).build()));
        refused("stderr", () -> v1.exec(ExecRequest.newBuilder().setContainerId("abc").addCmd("sh").setTty(true)
                .setStdout(true).setStderr(true).build()));
        refused("stdin", () -> v1.attach(AttachRequest.newBuilder().setContainerId("abc").build()));
        refused("pod_sandbox_id", () -> v1.portForward(PortForwardRequest.getDefaultInstance()));
        refused("port[1]", () -> v1.portForward(PortForwardRequest.newBuilder().setPodSandboxId("p").addPort(80).addPort(70000).build()));
        for (String cidr : List.of("10.0.0.0", "10.0.0.0/33", "300.1.1.1/8", "fd00::/129", "example.com/8")) {
            refused("runtime_config.network_config.pod_cidr", () -> v1.updateRuntimeConfig(UpdateRuntimeConfigRequest.newBuilder()
                    .setRuntimeConfig(RuntimeConfig.newBuilder().setNetworkConfig(NetworkConfig.newBuilder().setPodCidr(cidr))).build()));
        }
        v1.updateRuntimeConfig(UpdateRuntimeConfigRequest.newBuilder().setRuntimeConfig(RuntimeConfig.newBuilder()
                .setNetworkConfig(NetworkConfig.newBuilder().setPodCidr("10.244.0.0/24,fd00:10:244::/64"))).build());
    }
}
