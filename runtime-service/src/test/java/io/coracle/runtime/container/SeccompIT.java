package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.Capability;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.Int64Value;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.SecurityProfile;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ImageBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * RuntimeDefault seccomp on real containers, as the container's root would probe it with raw
 * syscalls (x86_64 numbers; a static test program in the image prints "ok" or "e&lt;errno&gt;").
 */
class SeccompIT {
    private static final String EPERM = "e1", ENOSYS = "e38", OK = "ok";
    static CriTestbed bed;
    static PodSandboxConfig pod;
    static String podId;

    @BeforeAll
    static void start() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue("amd64".equals(System.getProperty("os.arch")), "x86_64 syscall numbers");
        Path dir = Files.createTempDirectory("seccomp-it-");
        byte[] rawsyscall = StaticTestPrograms.compile(dir, "rawsyscall"), euid = StaticTestPrograms.compile(dir, "euid");
        bed = CriTestbed.start();
        ImageBuilder.busybox().file("bin/rawsyscall", 0755, rawsyscall).file("bin/euid", 04755, euid)
                .push(bed.registry, "library/seccomp", "probe");
        bed.daemon.images().pullImage(PullImageRequest.newBuilder().setImage(probe()).build());
        pod = bed.pod("seccomp").build();
        podId = bed.runPod(pod);
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    private static ImageSpec probe() {
        return ImageSpec.newBuilder().setImage("docker.io/library/seccomp:probe").build();
    }

    private static LinuxContainerSecurityContext.Builder runtimeDefault() {
        return LinuxContainerSecurityContext.newBuilder()
                .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.RuntimeDefault));
    }

    private static String run(String name, LinuxContainerSecurityContext.Builder sc) throws Exception {
        ContainerConfig.Builder c = container(name, "sleep", "300").setImage(probe())
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc));
        String id = bed.createAndStart(podId, pod, c);
        bed.awaitStatus(id, st -> st.getState() != ContainerState.CONTAINER_CREATED, Duration.ofSeconds(10));
        ContainerStatus status = bed.status(id);
        if (status.getState() != ContainerState.CONTAINER_RUNNING) {
            Path log = Path.of(status.getLogPath());
            throw new AssertionError(name + " is not running: " + status + (Files.exists(log) ? Files.readString(log) : ""));
        }
        return id;
    }

    private static String exec(String id, String... cmd) {
        ExecSyncResponse r = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                .addAllCmd(List.of(cmd)).setTimeout(10).build());
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toString(StandardCharsets.UTF_8).trim();
    }

    private static String sys(String id, String... nrAndArgs) {
        String[] cmd = new String[nrAndArgs.length + 1];
        cmd[0] = "/bin/rawsyscall";
        System.arraycopy(nrAndArgs, 0, cmd, 1, nrAndArgs.length);
        return exec(id, cmd);
    }

    private static String noNewPrivs(String id) {
        return exec(id, "sh", "-c", "grep NoNewPrivs /proc/self/status").replaceAll("\\s+", " ");
    }

    @Test
    void runtimeDefaultDeniesWhatReachesOutsideTheContainer() throws Exception {
        String id = run("confined", runtimeDefault());
        assertEquals(EPERM, sys(id, "272", "0x10000000"), "unshare(CLONE_NEWUSER)");
        assertEquals(EPERM, sys(id, "272", "0x20000"), "unshare(CLONE_NEWNS)");
        assertEquals(EPERM, sys(id, "56", "0x10000011"), "clone(CLONE_NEWUSER|SIGCHLD)");
        assertEquals(EPERM, sys(id, "56", "0x20000011"), "clone(CLONE_NEWNS|SIGCHLD)");
        assertEquals(ENOSYS, sys(id, "435", "0", "0"), "clone3: ENOSYS so libc falls back to clone");
        assertEquals(EPERM, sys(id, "425", "1", "0"), "io_uring_setup");
        assertEquals(EPERM, sys(id, "250", "0", "0"), "keyctl");
        assertEquals(EPERM, sys(id, "248", "0", "0", "0", "0"), "add_key");
        assertEquals(EPERM, sys(id, "321", "0", "0", "0"), "bpf");
        assertEquals(EPERM, sys(id, "165", "0", "0", "0", "0", "0"), "mount");
        // ptrace is allowed as moby allows it, but reaches no host process: none is in the container's PID namespace
        assertEquals("e3", sys(id, "101", "16", Long.toString(ProcessHandle.current().pid())),
                "ptrace(PTRACE_ATTACH, <a host process>)");
        assertEquals(EPERM, sys(id, "175", "0", "0", "0"), "init_module");
        assertEquals(EPERM, sys(id, "169", "0", "0", "0", "0"), "reboot");
        assertEquals(EPERM, sys(id, "135", "0xffff"), "personality(0xffff)");
        assertEquals(EPERM, sys(id, "41", "40", "1", "0"), "socket(AF_VSOCK)");
        // what every program does still works
        assertEquals(OK, sys(id, "135", "0xffffffff"), "personality query");
        assertEquals(OK, sys(id, "41", "2", "2", "0"), "socket(AF_INET, SOCK_DGRAM)");
        assertEquals(OK, sys(id, "56", "0x11"), "fork-like clone(SIGCHLD)");
        assertEquals("forked", exec(id, "sh", "-c", "sleep 0.1 & wait; echo forked"));
        assertEquals("hi", exec(id, "sh", "-c", "echo hi | cat"));
    }

    @Test
    void syscallsNewerThanTheProfileFailWithEnosys() throws Exception {
        String id = run("newer", runtimeDefault());
        assertEquals(ENOSYS, sys(id, "500"), "unknown number");
        assertEquals(ENOSYS, sys(id, "462", "0", "0", "0"), "mseal: newer than the profile");
        assertEquals(ENOSYS, sys(id, "469", "0", "0", "0", "0", "0"), "file_setattr: newer than the profile");
        assertEquals(EPERM, sys(id, "246", "0", "0", "0", "0"), "kexec_load: old and denied stays EPERM");
    }

    @Test
    void capSysAdminOpensNamespacesAndMount() throws Exception {
        String id = run("admin", runtimeDefault().setCapabilities(Capability.newBuilder().addAddCapabilities("SYS_ADMIN")));
        assertEquals(OK, sys(id, "272", "0x20000"), "unshare(CLONE_NEWNS)");
        assertEquals(OK, sys(id, "56", "0x20000011"), "clone(CLONE_NEWNS|SIGCHLD)");
        assertEquals(EPERM, sys(id, "312", "1", "1", "0", "0", "0"), "kcmp still needs CAP_SYS_PTRACE");
    }

    @Test
    void unconfinedAndPrivilegedAreNotFiltered() throws Exception {
        String unconfined = run("unconfined", LinuxContainerSecurityContext.newBuilder().setSeccomp(
                SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.Unconfined)));
        assertEquals(OK, sys(unconfined, "135", "0xffffffff"));
        assertEquals(OK, sys(unconfined, "135", "0x0"), "personality(PER_LINUX)");
        assertNotEquals(EPERM, sys(unconfined, "425", "1", "0"), "io_uring_setup reaches the kernel");
        assertEquals("Seccomp: 0", exec(unconfined, "sh", "-c", "grep '^Seccomp:' /proc/self/status").replaceAll("\\s+", " "));
        String privileged = run("privileged", runtimeDefault().setPrivileged(true));
        assertEquals("Seccomp: 0", exec(privileged, "sh", "-c", "grep '^Seccomp:' /proc/self/status").replaceAll("\\s+", " "));
        assertEquals(OK, sys(privileged, "272", "0x20000"), "unshare(CLONE_NEWNS)");
        String confined = run("filtered", runtimeDefault());
        assertEquals("Seccomp: 2", exec(confined, "sh", "-c", "grep '^Seccomp:' /proc/self/status").replaceAll("\\s+", " "));
    }

    @Test
    void noNewPrivsFollowsAllowPrivilegeEscalationOnly() throws Exception {
        Int64Value app = Int64Value.newBuilder().setValue(1000).build();
        String escalates = run("escalates", runtimeDefault().setNoNewPrivs(false).setRunAsUser(app));
        assertEquals("NoNewPrivs: 0", noNewPrivs(escalates), "loading the filter must not set no_new_privs");
        assertEquals("0", exec(escalates, "/bin/euid"), "a setuid-root program runs as root");
        String locked = run("locked", runtimeDefault().setNoNewPrivs(true).setRunAsUser(app));
        assertEquals("NoNewPrivs: 1", noNewPrivs(locked));
        assertEquals("1000", exec(locked, "/bin/euid"), "no_new_privs: execve ignores the setuid bit");
        assertEquals(EPERM, sys(locked, "272", "0x20000"), "the filter is on with no_new_privs too");
    }
}
