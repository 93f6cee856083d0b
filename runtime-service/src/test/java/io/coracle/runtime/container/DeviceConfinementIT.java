package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cgroup.Cgroups;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.testing.CriTestbed;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Through the CRI, as a container's root would try: device nodes of the host (its disk, /dev/mem)
 * made and opened under the default device rules (v1 devices controller or the v2 eBPF program),
 * and the cgroup namespace (private on v2 unless privileged, the host's on v1).
 */
// Not tagged "cgroup": a whole daemon with a registry is too slow for the user-mode-linux stage;
// the same attack runs there one level down (native ContainerDeviceAndCgroupnsTest).
class DeviceConfinementIT {
    static CriTestbed bed;
    static PodSandboxConfig pod;
    static String podId;
    static boolean v2;

    @BeforeAll
    static void start() throws Exception {
        v2 = Cgroups.detect().v2();
        bed = CriTestbed.start();
        pod = bed.pod("devices").build();
        podId = bed.runPod(pod);
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    private static String run(String name, LinuxContainerSecurityContext.Builder sc) throws Exception {
        ContainerConfig.Builder c = container(name, "sleep", "300")
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc));
        String id = bed.createAndStart(podId, pod, c);
        assertEquals(ContainerState.CONTAINER_RUNNING, bed.awaitStatus(id,
                st -> st.getState() != ContainerState.CONTAINER_CREATED, Duration.ofSeconds(10)).getState());
        return id;
    }

    private static ExecSyncResponse exec(String id, String script) {
        return bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                .addAllCmd(List.of("sh", "-c", script)).setTimeout(10).build());
    }

    /** The host's first disk in /proc/partitions, "major minor" (sda's numbers when none is listed). */
    private static String hostDisk() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/partitions"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 4 && f[0].matches("\\d+") && !f[3].startsWith("loop") && !f[3].startsWith("ram")) {
                return f[0] + " " + f[1];
            }
        }
        return "8 0";
    }

    @Test
    void aContainersRootMakesButCannotOpenTheHostsDiskOrMemory() throws Exception {
        String id = run("attacker", LinuxContainerSecurityContext.newBuilder());
        String disk = hostDisk();
        for (String node : List.of("/dev/hostdisk b " + disk, "/dev/mem c 1 1", "/dev/port c 1 4", "/dev/kmsg c 1 11")) {
            String path = node.split(" ")[0];
            ExecSyncResponse made = exec(id, "mknod " + node);
            assertEquals(0, made.getExitCode(), "mknod is allowed, as under containerd and runc: "
                    + made.getStderr().toStringUtf8());
            for (String open : List.of("head -c 1 " + path + " > /dev/null", ": >> " + path, ": <> " + path)) {
                ExecSyncResponse r = exec(id, open);
                assertTrue(r.getExitCode() != 0 && r.getStderr().toStringUtf8().contains("Operation not permitted"),
                        open + ": " + r.getExitCode() + " " + r.getStderr().toStringUtf8());
            }
        }
        ExecSyncResponse ok = exec(id, "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok");
        assertEquals("4\nnull-ok\n", ok.getStdout().toString(StandardCharsets.UTF_8), ok.getStderr().toStringUtf8());
    }

    @Test
    void theCgroupNamespaceIsPrivateOnV2AndTheHostsOnV1OrWhenPrivileged() throws Exception {
        String plain = run("plain", LinuxContainerSecurityContext.newBuilder());
        String own = exec(plain, "cat /proc/self/cgroup").getStdout().toString(StandardCharsets.UTF_8);
        if (v2) {
            assertEquals("0::/\n", own);
            ExecSyncResponse tree = exec(plain, "ls /sys/fs/cgroup | grep -v '\\.' ; cat /sys/fs/cgroup/cgroup.procs | wc -l;"
                    + " mkdir /sys/fs/cgroup/x");
            assertFalse(tree.getStdout().toStringUtf8().contains(bed.cgroupParent().replaceAll("^/", "").split("/")[0]),
                    "the pod's and the node's cgroups are not visible: " + tree.getStdout().toStringUtf8());
            assertTrue(tree.getStderr().toStringUtf8().contains("Read-only file system"), tree.getStderr().toStringUtf8());
        } else {
            // containerd uses the host's cgroup namespace on v1; so does Coracle (no cgroup tree is mounted).
            assertTrue(own.lines().anyMatch(l -> !l.endsWith(":/")), own);
        }
        String privileged = run("privileged", LinuxContainerSecurityContext.newBuilder().setPrivileged(true));
        String host = exec(privileged, "cat /proc/self/cgroup").getStdout().toString(StandardCharsets.UTF_8);
        assertTrue(host.lines().anyMatch(l -> !l.endsWith(":/")), "privileged: the host's cgroup namespace: " + host);
    }
}
