package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.CDIDevice;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.DaemonProcess;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * CDI devices end to end: spec files in the daemon's own spec dirs, containers asking for their
 * devices by CDIDevice and by cdi.k8s.io/ annotation; what the container sees, what the hooks did,
 * and what unknown devices and hostile spec files get.
 */
class CdiIT {
    static CriTestbed bed;
    static Path dir, early, late, share, hookOut;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("coracle-cdi-");
        early = Files.createDirectories(dir.resolve("etc-cdi"));
        late = Files.createDirectories(dir.resolve("run-cdi"));
        share = Files.createDirectories(dir.resolve("share"));
        hookOut = Files.createDirectories(dir.resolve("hook-out"));
        Files.writeString(share.resolve("file"), "shared-by-cdi\n");
        Path nodes = Files.createDirectories(dir.resolve("nodes"));
        run("mknod", nodes.resolve("fake-null").toString(), "c", "1", "3");
        // The state JSON to the host, and a file into the container's root through /proc/<pid>/root.
        Path hook = dir.resolve("hook.sh");
        Files.writeString(hook, """
                #!/bin/sh
                state=$(cat)
                printf '%s' "$state" > "$1/$2.json"
                pid=$(printf '%s' "$state" | sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p')
                if [ -n "$pid" ]; then echo "hooked $2 $HOOK_WORD" > /proc/$pid/root/tmp/$2; fi
                """);
        Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rwx------"));
        Path slow = dir.resolve("slow.sh");
        Files.writeString(slow, "#!/bin/sh\nsleep 60\n");
        Files.setPosixFilePermissions(slow, PosixFilePermissions.fromString("rwx------"));
        // The earlier directory's device is overridden by the later one's.
        Files.writeString(early.resolve("test.json"), """
                {"cdiVersion": "0.6.0", "kind": "coracle.test/dev",
                 "devices": [{"name": "null1", "containerEdits": {"env": ["CDI_GREETING=from-the-earlier-dir"]}}]}
                """);
        Files.writeString(late.resolve("test.yaml"), """
                cdiVersion: 0.6.0
                kind: coracle.test/dev
                containerEdits:
                  env: [CDI_SPEC_LEVEL=1]
                devices:
                - name: null1
                  containerEdits:
                    env: [CDI_GREETING=hello-cdi]
                    deviceNodes:
                    - {path: /dev/cdi-null, hostPath: %1$s/nodes/fake-null, fileMode: 416, gid: 7}
                    - {path: /dev/cdi-loopctl, type: c, major: 10, minor: 237, permissions: rw}
                    mounts:
                    - {hostPath: %1$s/share, containerPath: /cdi-share, options: [rbind, ro]}
                    hooks:
                    - {hookName: createRuntime, path: %1$s/hook.sh, args: [hook.sh, %2$s, createRuntime], env: [HOOK_WORD=hi], timeout: 10}
                    - {hookName: startContainer, path: /bin/sh, args: [sh, -c, 'echo in-container > /tmp/startContainer; (readlink /proc/self/ns/pid; readlink /proc/self/ns/net) > /tmp/startContainer.ns']}
                    - {hookName: poststop, path: %1$s/hook.sh, args: [hook.sh, %2$s, poststop]}
                    additionalGIDs: [4242]
                - name: slow
                  containerEdits:
                    hooks:
                    - {hookName: createContainer, path: %1$s/slow.sh, timeout: 1}
                - name: notnode
                  containerEdits:
                    deviceNodes: [{path: /dev/passwd, hostPath: /etc/passwd}]
                """.formatted(dir, hookOut));
        hostile();
        // The testbed's config ends inside [cni]: its default_network first, then the [cdi] table.
        bed = CriTestbed.start("default_network = true\n[cdi]\nspec_dirs = [\"" + early + "\", \"" + late + "\"]\n");
    }

    /** Spec files an attacker with a foothold (or a buggy plugin) might leave: each is refused alone. */
    static void hostile() throws Exception {
        String ok = """
                {"cdiVersion": "0.6.0", "kind": "coracle.test/%s", "devices": [{"name": "x", "containerEdits": %s}]}""";
        Files.writeString(late.resolve("huge.json"), ok.formatted("huge", "{\"env\": [\"A=" + "a".repeat(2 << 20) + "\"]}"));
        Files.writeString(late.resolve("badname.json"), """
                {"cdiVersion": "0.6.0", "kind": "coracle.test/badname", "devices": [{"name": "x"}, {"name": "../../etc"}]}""");
        Files.writeString(late.resolve("badkind.json"), """
                {"cdiVersion": "0.6.0", "kind": "coracle.test/../x", "devices": [{"name": "x"}]}""");
        Files.writeString(late.resolve("relative.json"), ok.formatted("relative", "{\"deviceNodes\": [{\"path\": \"dev/null\"}]}"));
        Files.writeString(late.resolve("dotdot.json"), ok.formatted("dotdot",
                "{\"mounts\": [{\"hostPath\": \"/etc\", \"containerPath\": \"/x/../../../etc\"}]}"));
        Files.writeString(late.resolve("version.json"), """
                {"cdiVersion": "9.9.9", "kind": "coracle.test/version", "devices": [{"name": "x"}]}""");
        Path outside = Files.writeString(dir.resolve("outside.json"), ok.formatted("link", "{}"));
        Files.createSymbolicLink(late.resolve("link.json"), outside);
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
        DaemonProcess.deleteTree(dir);
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        assertEquals(0, p.waitFor(), String.join(" ", cmd));
    }

    private static String exec(String id, String script) {
        ExecSyncResponse r = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                .addAllCmd(List.of("sh", "-c", script)).setTimeout(10).build());
        return r.getStdout().toString(StandardCharsets.UTF_8) + r.getStderr().toString(StandardCharsets.UTF_8);
    }

    private static ContainerConfig.Builder asking(String name, String... devices) {
        ContainerConfig.Builder c = container(name, "sleep", "300");
        for (String d : devices) {
            c.addCDIDevices(CDIDevice.newBuilder().setName(d));
        }
        return c;
    }

    @Test
    void theDevicesNodesEnvMountsGroupsAndHooksReachTheContainer() throws Exception {
        PodSandboxConfig pod = bed.pod("cdi").build();
        String podId = bed.runPod(pod);
        String id;
        try {
            id = bed.createAndStart(podId, pod, asking("gpu", "coracle.test/dev=null1"));
            assertEquals("c 1 3 640 7\n", exec(id, "stat -c '%F %t %T %a %g' /dev/cdi-null | sed 's/character special file/c/'"));
            assertEquals("c a ed\n", exec(id, "stat -c '%F %t %T' /dev/cdi-loopctl | sed 's/character special file/c/'"));
            assertEquals("opened\n", exec(id, "echo x > /dev/cdi-null && : < /dev/cdi-loopctl && echo opened"));
            assertEquals("hello-cdi 1\n", exec(id, "echo $CDI_GREETING $CDI_SPEC_LEVEL"));
            assertEquals("shared-by-cdi\n", exec(id, "cat /cdi-share/file"));
            assertTrue(exec(id, "touch /cdi-share/new 2>&1; echo $?").trim().endsWith("1"), "the mount is read-only");
            assertTrue(List.of(exec(id, "id -G").trim().split(" ")).contains("4242"));
            // createRuntime: in the host's namespaces, the state on stdin, into the container through its pid.
            assertEquals("hooked createRuntime hi\n", exec(id, "cat /tmp/createRuntime"));
            String state = Files.readString(hookOut.resolve("createRuntime.json"));
            assertTrue(state.contains("\"id\":\"" + id + "\"") && state.contains("\"status\":\"created\"")
                    && state.contains("\"bundle\":\"/"), state);
            // startContainer: inside the container's mount namespace (its /bin/sh, its /tmp).
            assertEquals("in-container\n", exec(id, "cat /tmp/startContainer"));
            assertFalse(Files.exists(Path.of("/tmp/startContainer")), "nothing written on the host's /tmp");
            // ...and in its PID and network namespaces too: a binary of the image's never runs in the host's.
            assertEquals(exec(id, "readlink /proc/self/ns/pid; readlink /proc/self/ns/net"), exec(id, "cat /tmp/startContainer.ns"));
            assertFalse(exec(id, "cat /tmp/startContainer.ns").contains(Files.readSymbolicLink(Path.of("/proc/self/ns/pid")).toString()),
                    "not the host's PID namespace");
        } finally {
            bed.removePod(podId);
        }
        String stopped = Files.readString(hookOut.resolve("poststop.json"));
        assertTrue(stopped.contains("\"id\":\"" + id + "\"") && stopped.contains("\"status\":\"stopped\""), stopped);
    }

    @Test
    void theAnnotationAsksForTheSameDevice() throws Exception {
        PodSandboxConfig pod = bed.pod("cdi-annot").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("annot", "sleep", "300")
                    .putAnnotations("cdi.k8s.io/test", "coracle.test/dev=null1"));
            assertEquals("hello-cdi\n", exec(id, "echo $CDI_GREETING"));
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void unknownDevicesBadSpecsAndFailingHooksRefuseTheContainer() throws Exception {
        PodSandboxConfig pod = bed.pod("cdi-bad").build();
        String podId = bed.runPod(pod);
        try {
            record Case(String device, String message) {}
            for (Case c : List.of(
                    new Case("coracle.test/dev=missing", "unresolvable CDI devices coracle.test/dev=missing"),
                    new Case("coracle.test/huge=x", "huge.json: larger than 1048576 bytes"),
                    new Case("coracle.test/badname=x", "badname.json: device name '../../etc' is not"),
                    new Case("coracle.test/relative=x", "relative.json: devices[x].containerEdits.deviceNodes[dev/null].path: 'dev/null' is not an absolute path"),
                    new Case("coracle.test/dotdot=x", "dotdot.json: devices[x].containerEdits.mounts[/x/../../../etc].containerPath: '/x/../../../etc' holds '..'"),
                    new Case("coracle.test/version=x", "version.json: cdiVersion '9.9.9' is not one of"),
                    new Case("coracle.test/link=x", "link.json: a symbolic link"),
                    new Case("coracle.test/dev=notnode", "hostPath /etc/passwd is not a device node"),
                    new Case("coracle.test/x=../y", "is not a fully qualified CDI device name"),
                    new Case("no-kind", "is not a fully qualified CDI device name"))) {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                        () -> bed.create(podId, pod, asking("bad", c.device())), c.device());
                assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), c.device() + ": " + e.getStatus());
                assertTrue(e.getStatus().getDescription().contains(c.message()), c.device() + ": " + e.getStatus().getDescription());
            }
            // A createContainer hook runs where the runtime creates the process: at StartContainer, which it
            // fails (INTERNAL: the node's fault); the container is left exited (StartError), as in containerd.
            String slow = bed.create(podId, pod, asking("slow", "coracle.test/dev=slow"));
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runtime().startContainer(
                    io.coracle.cri.v1.StartContainerRequest.newBuilder().setContainerId(slow).build()));
            assertEquals(Status.Code.INTERNAL, e.getStatus().getCode(), e.getStatus().toString());
            String why = "hook createContainer " + dir + "/slow.sh: did not finish within 1 s";
            assertTrue(e.getStatus().getDescription().contains(why), e.getStatus().getDescription());
            assertEquals("StartError", bed.status(slow).getReason());
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(slow).build());
            assertTrue(bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList().stream()
                    .noneMatch(x -> x.getPodSandboxId().equals(podId)), "no container was left behind");
            // The one good device of the same dir still works: the refused files did not spoil the others.
            String id = bed.createAndStart(podId, pod, asking("good", "coracle.test/dev=null1"));
            assertEquals("hello-cdi\n", exec(id, "echo $CDI_GREETING"));
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        } finally {
            bed.removePod(podId);
        }
        assertTrue(Files.readString(Path.of("/etc/passwd")).startsWith("root:"), "the host's files are untouched");
    }
}
