package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.testing.CriTestbed;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * namespace_options.pid TARGET ({@code kubectl debug --target}) through the real daemon: the new
 * container sees the target's processes (its pid 1 is the target's); a target in another pod, not
 * running, or not there is refused as containerd refuses it, and no container is left behind.
 */
class PidTargetIT {
    static CriTestbed bed;
    static PodSandboxConfig pod;
    static String podId;
    static PodSandboxConfig other;
    static String otherId;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start("[runtimes.runc]\npath = \"/usr/sbin/runc\"\n");
        pod = bed.pod("debug-target").build();
        podId = bed.runPod(pod);
        other = bed.pod("other").build();
        otherId = bed.runPod(other);
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    private static ContainerConfig.Builder withPid(ContainerConfig.Builder c, NamespaceMode mode, String target) {
        return c.setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext
                .newBuilder().setNamespaceOptions(NamespaceOption.newBuilder().setPid(mode).setTargetId(target))));
    }

    /** A container in its own PID namespace, as the kubelet makes them without shareProcessNamespace. */
    private static String target(String podId, PodSandboxConfig pod, String name) throws Exception {
        String id = bed.createAndStart(podId, pod, withPid(container(name, "sleep", "301"), NamespaceMode.CONTAINER, ""));
        bed.awaitStatus(id, st -> st.getState() == ContainerState.CONTAINER_RUNNING, Duration.ofSeconds(10));
        return id;
    }

    private static String out(String id, String... cmd) throws Exception {
        bed.awaitStatus(id, st -> st.getState() != ContainerState.CONTAINER_CREATED, Duration.ofSeconds(10));
        ExecSyncResponse r = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                .addAllCmd(List.of(cmd)).setTimeout(10).build());
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toString(StandardCharsets.UTF_8);
    }

    private static void refused(ContainerConfig.Builder c, Status.Code code, String why) {
        int before = bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod, c));
        assertEquals(code, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains(why), e.getStatus().getDescription());
        assertEquals(before, bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
    }

    @Test
    void theDebugContainerSeesTheTargetsProcesses() throws Exception {
        String target = target(podId, pod, "app");
        String debug = bed.createAndStart(podId, pod, withPid(container("debugger", "sleep", "302"),
                NamespaceMode.TARGET, target));
        assertEquals(out(target, "readlink", "/proc/self/ns/pid"), out(debug, "readlink", "/proc/self/ns/pid"));
        assertEquals("sleep\0" + "301\0", out(debug, "cat", "/proc/1/cmdline"), "pid 1 is the target's process");
        assertTrue(out(debug, "ps", "-o", "args").contains("sleep 301"));
        // The target's own view is unchanged and includes the debugger.
        assertTrue(out(target, "ps", "-o", "args").contains("sleep 302"));
        // A container of the pod in CONTAINER mode stays apart.
        String apart = target(podId, pod, "apart");
        assertNotEquals(out(target, "readlink", "/proc/self/ns/pid"), out(apart, "readlink", "/proc/self/ns/pid"));
    }

    @Test
    void aTargetInAnotherPodIsRefused() throws Exception {
        String foreign = target(otherId, other, "foreign");
        refused(withPid(container("d1", "sleep", "1"), NamespaceMode.TARGET, foreign), Status.Code.INVALID_ARGUMENT,
                "does not belong to sandbox " + podId);
    }

    @Test
    void aTargetNotRunningIsRefused() throws Exception {
        String created = bed.create(podId, pod, withPid(container("created", "sleep", "1"), NamespaceMode.CONTAINER, ""));
        refused(withPid(container("d2", "sleep", "1"), NamespaceMode.TARGET, created), Status.Code.FAILED_PRECONDITION,
                "is not running - in state CONTAINER_CREATED");
        String stopped = target(podId, pod, "stopped");
        bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(stopped).setTimeout(1).build());
        refused(withPid(container("d3", "sleep", "1"), NamespaceMode.TARGET, stopped), Status.Code.FAILED_PRECONDITION,
                "is not running - in state CONTAINER_EXITED");
    }

    @Test
    void aTargetThatIsNotThereIsRefused() {
        refused(withPid(container("d4", "sleep", "1"), NamespaceMode.TARGET, "0123456789abcdef"), Status.Code.NOT_FOUND,
                "container \"0123456789abcdef\" does not exist");
        refused(withPid(container("d5", "sleep", "1"), NamespaceMode.TARGET, ""), Status.Code.INVALID_ARGUMENT,
                "TARGET without a target_id");
    }

    @Test
    void runcAsTheHandlerJoinsTheTargetToo() throws Exception {
        PodSandboxConfig runcPod = bed.pod("debug-runc").build();
        String runcPodId = bed.runtime().runPodSandbox(io.coracle.cri.v1.RunPodSandboxRequest.newBuilder()
                .setConfig(runcPod).setRuntimeHandler("runc").build()).getPodSandboxId();
        String target = target(runcPodId, runcPod, "app");
        String debug = bed.createAndStart(runcPodId, runcPod, withPid(container("debugger", "sleep", "302"),
                NamespaceMode.TARGET, target));
        assertEquals("sleep\0" + "301\0", out(debug, "cat", "/proc/1/cmdline"));
        bed.removePod(runcPodId);
    }
}
