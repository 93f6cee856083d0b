package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.Capability;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.MountPropagation;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RuntimeHandler;
import io.coracle.cri.v1.SELinuxOption;
import io.coracle.cri.v1.SecurityProfile;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.StatusResponse;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ImageBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The confinement battery, through the CRI on real pods: what root in a container tries against
 * the host (mounts, user namespaces, io_uring, keys, BPF, ptrace of host processes and of its
 * shim, sysrq, kcore, the shim's binary, device nodes of memory and of the host's disk), each
 * asserting the refusal and that the host is unchanged; the same calls allowed where the spec
 * allows them (privileged, an added capability, Unconfined seccomp); recursive read-only
 * hostPaths; privileged and plain containers side by side; and on this host without AppArmor or
 * SELinux, what Status says and how their requests end. Raw syscalls by x86_64 number
 * ({@code rawsyscall} prints "ok" or "e&lt;errno&gt;").
 */
class ConfinementIT {
    private static final String EPERM = "e1";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final boolean HOST_HAS_DEV_MEM = Files.exists(Path.of("/dev/mem"));
    static CriTestbed bed;
    static PodSandboxConfig pod, hostPidPod;
    static String podId, hostPidPodId;

    @BeforeAll
    static void start() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue("amd64".equals(System.getProperty("os.arch")), "x86_64 syscall numbers");
        Path dir = Files.createTempDirectory("confinement-it-");
        byte[] rawsyscall = StaticTestPrograms.compile(dir, "rawsyscall");
        DaemonProcess.deleteTree(dir);
        bed = CriTestbed.start();
        ImageBuilder.busybox().file("bin/rawsyscall", 0755, rawsyscall).push(bed.registry, "library/confine", "probe");
        bed.daemon.images().pullImage(PullImageRequest.newBuilder().setImage(probe()).build());
        pod = bed.pod("confine").build();
        podId = bed.runPod(pod);
        hostPidPod = bed.pod("confine-hostpid").setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(hostPid()))).build();
        hostPidPodId = bed.runPod(hostPidPod);
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    private static NamespaceOption hostPid() {
        return NamespaceOption.newBuilder().setPid(NamespaceMode.NODE).build();
    }

    private static ImageSpec probe() {
        return ImageSpec.newBuilder().setImage("docker.io/library/confine:probe").build();
    }

    private static LinuxContainerSecurityContext.Builder seccomp(SecurityProfile.ProfileType type) {
        return LinuxContainerSecurityContext.newBuilder().setSeccomp(SecurityProfile.newBuilder().setProfileType(type));
    }

    private static ContainerConfig.Builder config(String name, LinuxContainerSecurityContext.Builder sc) {
        return container(name, "sleep", "600").setImage(probe()).setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc));
    }

    private static String run(String podId, PodSandboxConfig pod, ContainerConfig.Builder c) throws Exception {
        String id = bed.createAndStart(podId, pod, c);
        ContainerStatus status = bed.awaitStatus(id, st -> st.getState() != ContainerState.CONTAINER_CREATED,
                Duration.ofSeconds(10));
        assertEquals(ContainerState.CONTAINER_RUNNING, status.getState(), status.toString());
        return id;
    }

    private static String run(String name, LinuxContainerSecurityContext.Builder sc) throws Exception {
        return run(podId, pod, config(name, sc));
    }

    /** The command's stdout and stderr, trimmed, whatever its exit code. */
    private static String sh(String id, String script) {
        ExecSyncResponse r = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                .addAllCmd(List.of("sh", "-c", "mkdir -p /m; { " + script + " ; } 2>&1")).setTimeout(20).build());
        return (r.getStdout().toString(StandardCharsets.UTF_8) + r.getStderr().toString(StandardCharsets.UTF_8)).trim();
    }

    private static String sys(String id, String... nrAndArgs) {
        return sh(id, "/bin/rawsyscall " + String.join(" ", nrAndArgs));
    }

    private static List<String> hostMountsFrom(String source) throws Exception {
        return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().filter(l -> l.contains(" " + source + " ")).toList();
    }

    private static String tracerPid(long pid) throws Exception {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream().filter(l -> l.startsWith("TracerPid:"))
                .findFirst().orElseThrow().replaceAll("\\s+", " ");
    }

    private static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }

    /** major:minor of the block device holding the host's root file system. */
    private static long[] rootDisk() throws Exception {
        long dev = (Long) Files.getAttribute(Path.of("/"), "unix:dev");
        return new long[] {(dev >>> 8) & 0xfff | ((dev >>> 32) & ~0xfffL), (dev & 0xff) | ((dev >>> 12) & ~0xffL)};
    }

    /** What root in a confined container tries, whichever seccomp profile it has: refused by capabilities, devices and paths. */
    private static void refusedWithoutPrivilege(String id) throws Exception {
        for (String mount : List.of("mount -t tmpfs battery-tmpfs /m", "mount -t proc battery-proc /m", "mount --bind /etc /m")) {
            String out = sh(id, mount + " && echo mounted");
            assertTrue(out.contains("permission denied") || out.contains("Operation not permitted"), mount + ": " + out);
        }
        assertEquals(List.of(), hostMountsFrom("battery-tmpfs"));
        assertEquals(List.of(), hostMountsFrom("battery-proc"));
        assertEquals("refused", sh(id, "echo h > /proc/sysrq-trigger || echo refused").replaceAll(".*\n", ""),
                "writing /proc/sysrq-trigger");
        if (Files.exists(Path.of("/proc/sysrq-trigger"))) {
            String sysrq = sh(id, "echo h > /proc/sysrq-trigger");
            assertTrue(sysrq.contains("Read-only file system"), sysrq);
        }
        if (Files.exists(Path.of("/proc/kcore"))) {
            assertEquals("0", sh(id, "wc -c < /proc/kcore"), "/proc/kcore reads as empty (masked)");
            assertEquals("0", sh(id, "wc -c < /dev/core"));
        } else { // this kernel has none: nothing else is reached through its name
            assertEquals("refused", sh(id, "(head -c 1 /proc/kcore; head -c 1 /dev/core) >/dev/null 2>&1 || echo refused"));
        }
        assertEquals("0", sh(id, "wc -c < /proc/keys"), "/proc/keys reads as empty (masked)");
        // As under runc's defaults, a node may be made (the device rules allow "m" on any node) but the
        // device rules refuse every open of it, for reading and for writing.
        assertEquals("made\nread refused\nwrite refused", sh(id, "mknod /dev/mem c 1 1 && echo made; "
                + "head -c 1 /dev/mem >/dev/null 2>&1 || echo read refused; "
                + "(echo x > /dev/mem) 2>/dev/null || echo write refused"));
        long[] disk = rootDisk();
        assertEquals("made\nread refused\nwrite refused", sh(id, "mknod /tmp/disk b " + disk[0] + " " + disk[1]
                + " && echo made; dd if=/tmp/disk of=/dev/null bs=512 count=1 2>/dev/null || echo read refused; "
                + "(echo x > /tmp/disk) 2>/dev/null || echo write refused"));
        assertEquals(HOST_HAS_DEV_MEM, Files.exists(Path.of("/dev/mem")), "nothing new in the host's /dev");
    }

    @Test
    void aRuntimeDefaultContainersRootIsRefusedAndTheHostUnchanged() throws Exception {
        String id = run("battery-default", seccomp(SecurityProfile.ProfileType.RuntimeDefault));
        refusedWithoutPrivilege(id);
        assertTrue(sh(id, "unshare -U true").contains("Operation not permitted"), "unshare -U");
        assertEquals(EPERM, sys(id, "56", "0x10000011"), "clone(CLONE_NEWUSER|SIGCHLD)");
        assertEquals(EPERM, sys(id, "425", "1", "0"), "io_uring_setup");
        assertEquals(EPERM, sys(id, "250", "0", "0", "0"), "keyctl");
        assertEquals(EPERM, sys(id, "321", "0", "0", "0"), "bpf");
    }

    @Test
    void unconfinedSeccompReachesTheKernelYetCapabilitiesStillRefuse() throws Exception {
        String id = run("battery-unconfined", seccomp(SecurityProfile.ProfileType.Unconfined));
        refusedWithoutPrivilege(id);
        assertNotEquals(EPERM, sys(id, "250", "0", "0", "0"), "keyctl reaches the kernel");
        assertNotEquals(EPERM, sys(id, "425", "1", "0"), "io_uring_setup reaches the kernel");
        assertNotEquals(EPERM, sys(id, "321", "0", "0", "0"), "bpf reaches the kernel (which then checks its own rules)");
    }

    @Test
    void anAddedCapSysAdminAllowsMountInsideTheContainerOnly() throws Exception {
        String id = run("battery-sysadmin", seccomp(SecurityProfile.ProfileType.RuntimeDefault)
                .setCapabilities(Capability.newBuilder().addAddCapabilities("SYS_ADMIN")));
        assertEquals("mounted", sh(id, "mount -t tmpfs battery-admin /m && echo mounted"));
        assertEquals(List.of(), hostMountsFrom("battery-admin"), "the mount stays in the container");
        assertEquals(EPERM, sys(id, "425", "1", "0"), "io_uring stays off under RuntimeDefault");
    }

    @Test
    void privilegedIsAllowedWhatOthersAreRefused() throws Exception {
        String id = run("battery-privileged", seccomp(SecurityProfile.ProfileType.RuntimeDefault).setPrivileged(true));
        assertEquals("mounted", sh(id, "mount -t tmpfs battery-priv /m && echo mounted"));
        assertEquals(List.of(), hostMountsFrom("battery-priv"), "the mount stays in the container");
        assertEquals("userns", sh(id, "unshare -U true && echo userns"));
        assertNotEquals(EPERM, sys(id, "250", "0", "0", "0"), "keyctl");
        assertEquals("opened", sh(id, "mknod /dev/null2 c 1 3 && (exec 3<>/dev/null2) && echo opened"));
    }

    @Test
    void aHostPidContainerCannotTraceHostProcessesNorRewriteItsShim() throws Exception {
        long daemon = bed.daemon.process().pid();
        ContainerConfig.Builder c = config("battery-hostpid", seccomp(SecurityProfile.ProfileType.RuntimeDefault)
                .setNamespaceOptions(hostPid()));
        String id = run(hostPidPodId, hostPidPod, c);
        JsonNode info = JSON.readTree(bed.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id)
                .setVerbose(true).build()).getInfoOrThrow("info"));
        long shim = info.path("shimPid").asLong();
        assertTrue(shim > 0, info.toString());
        String before = tracerPid(daemon);
        assertEquals(EPERM, sys(id, "101", "16", Long.toString(daemon)), "ptrace(PTRACE_ATTACH, the daemon)");
        assertEquals(EPERM, sys(id, "101", "16", Long.toString(shim)), "ptrace(PTRACE_ATTACH, the shim)");
        assertEquals(before, tracerPid(daemon));
        assertEquals("TracerPid: 0", tracerPid(shim));
        assertEquals("refused", sh(id, "(echo x >> /proc/" + shim + "/exe) 2>/dev/null || echo refused"));
        assertEquals("refused", sh(id, "(exec 3</proc/" + shim + "/exe) 2>/dev/null || echo refused"),
                "the shim is not dumpable: its exe does not even open");
        assertTrue(Files.readSymbolicLink(Path.of("/proc/" + shim + "/exe")).toString().startsWith("/memfd:coracle-shim"),
                "the shim runs from its sealed memfd copy");

        // With CAP_SYS_PTRACE the exe opens, but it is a sealed memfd: no write reaches anything.
        String traced = run(hostPidPodId, hostPidPod, config("battery-ptrace", seccomp(SecurityProfile.ProfileType.RuntimeDefault)
                .setNamespaceOptions(hostPid()).setCapabilities(Capability.newBuilder().addAddCapabilities("SYS_PTRACE"))));
        assertEquals("opened", sh(traced, "(exec 3</proc/" + shim + "/exe) 2>/dev/null && echo opened"));
        assertEquals("refused", sh(traced, "(echo x >> /proc/" + shim + "/exe) 2>/dev/null || echo refused"));
        assertEquals("refused", sh(traced, "(echo x > /proc/" + shim + "/exe) 2>/dev/null || echo refused"));
    }

    private static Mount.Builder volume(Path host, boolean readonly, boolean rro) {
        return Mount.newBuilder().setContainerPath("/mnt").setHostPath(host.toString()).setReadonly(readonly)
                .setRecursiveReadOnly(rro);
    }

    private static void hostRun(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }

    @Test
    void aRecursiveReadOnlyHostPathIsReadOnlyInEverySubmount() throws Exception {
        StatusResponse status = bed.runtime().status(StatusRequest.newBuilder().build());
        RuntimeHandler handler = status.getRuntimeHandlersList().stream().filter(h -> h.getName().isEmpty()).findFirst()
                .orElseThrow();
        assertTrue(handler.getFeatures().getRecursiveReadOnlyMounts(), status.toString());

        Path host = Files.createTempDirectory(Path.of("/tmp"), "coracle-rro-it-");
        Path sub = Files.createDirectories(host.resolve("sub"));
        hostRun("mount", "-t", "tmpfs", "-o", "size=1m", "rro-it", sub.toString());
        try {
            String rro = run(podId, pod, config("rro", LinuxContainerSecurityContext.newBuilder())
                    .addMounts(volume(host, true, true)));
            assertTrue(sh(rro, "touch /mnt/sub/f").contains("Read-only file system"));
            assertTrue(sh(rro, "touch /mnt/f").contains("Read-only file system"));
            String plain = run(podId, pod, config("ro", LinuxContainerSecurityContext.newBuilder())
                    .addMounts(volume(host, true, false)));
            assertEquals("written", sh(plain, "touch /mnt/sub/f && echo written"), "readonly alone: the bind only");
            assertTrue(sh(plain, "touch /mnt/f").contains("Read-only file system"));
            assertTrue(Files.exists(sub.resolve("f")));

            for (Mount.Builder bad : List.of(volume(host, false, true),
                    volume(host, true, true).setPropagation(MountPropagation.PROPAGATION_HOST_TO_CONTAINER),
                    volume(host, true, true).setPropagation(MountPropagation.PROPAGATION_BIDIRECTIONAL))) {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod,
                        config("rro-bad-" + bad.getPropagationValue() + bad.getReadonly(), LinuxContainerSecurityContext.newBuilder())
                                .addMounts(bad)));
                assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
                assertTrue(e.getMessage().contains("recursive_read_only needs"), e.getMessage());
            }
        } finally {
            hostRun("umount", "-l", sub.toString());
            DaemonProcess.deleteTree(host);
        }
    }

    @Test
    void statusSaysWhichLsmsTheHostHasAndLocalhostAppArmorIsRefusedWithoutIt() throws Exception {
        StatusResponse status = bed.runtime().status(StatusRequest.newBuilder().setVerbose(true).build());
        JsonNode security = JSON.readTree(status.getInfoOrThrow("security"));
        assertFalse(security.path("apparmor").asBoolean(true), security.toString());
        assertEquals("disabled", security.path("selinux").asText());
        assertTrue(security.path("lsms").toString().contains("capability"), security.toString());
        assertTrue(bed.daemon.logText().contains("host security: LSMs "), "the start-up log line");

        for (LinuxContainerSecurityContext.Builder sc : List.of(
                LinuxContainerSecurityContext.newBuilder().setApparmor(SecurityProfile.newBuilder()
                        .setProfileType(SecurityProfile.ProfileType.Localhost).setLocalhostRef("my-profile")),
                LinuxContainerSecurityContext.newBuilder().setApparmorProfile("localhost/my-profile"))) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> bed.create(podId, pod, config("aa-localhost-" + sc.hasApparmor(), sc)));
            assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode(), e.getMessage());
            assertTrue(e.getMessage().contains("apparmor is not supported"), e.getMessage());
        }
        // RuntimeDefault and Unconfined run without AppArmor; an SELinux request runs unlabelled and says so.
        run("aa-default", LinuxContainerSecurityContext.newBuilder().setApparmor(SecurityProfile.newBuilder()
                .setProfileType(SecurityProfile.ProfileType.RuntimeDefault)));
        run("aa-unconfined", LinuxContainerSecurityContext.newBuilder().setApparmorProfile("unconfined"));
        String labelled = run("selinux", LinuxContainerSecurityContext.newBuilder().setSelinuxOptions(
                SELinuxOption.newBuilder().setType("spc_t").setLevel("s0:c1,c2")));
        String info = bed.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(labelled)
                .setVerbose(true).build()).getInfoOrThrow("info");
        assertTrue(JSON.readTree(info).path("selinux").asText().contains("not applied: SELinux is not enforcing"), info);
        assertTrue(bed.daemon.logText().contains("selinux_options (user= role= type=spc_t level=s0:c1,c2) not applied"));
    }

    @Test
    void privilegedAndPlainContainersInOnePodEachGetTheirOwn() throws Exception {
        String privileged = run("side-privileged", LinuxContainerSecurityContext.newBuilder().setPrivileged(true));
        String plain = run("side-plain", LinuxContainerSecurityContext.newBuilder());
        List<String> hostNodes;
        try (var entries = Files.list(Path.of("/dev"))) {
            hostNodes = entries.filter(p -> !Files.isSymbolicLink(p) && !Files.isDirectory(p)
                    && !p.getFileName().toString().equals("console")).map(p -> p.getFileName().toString()).sorted().toList();
        }
        List<String> privDev = List.of(sh(privileged, "ls /dev").split("\\s+"));
        assertTrue(privDev.containsAll(hostNodes), "missing: " + hostNodes.stream().filter(n -> !privDev.contains(n)).toList());
        assertEquals(List.of("core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
                "stdout", "tty", "urandom", "zero"), List.of(sh(plain, "ls /dev").split("\\s+")), "the default /dev only");

        String privSys = sh(privileged, "grep ' /sys ' /proc/mounts"), plainSys = sh(plain, "grep ' /sys ' /proc/mounts");
        assertTrue(privSys.contains(" rw,"), privSys);
        assertTrue(plainSys.contains(" ro,"), plainSys);
        String daemonBounding = Files.readAllLines(Path.of("/proc/" + bed.daemon.process().pid() + "/status")).stream()
                .filter(l -> l.startsWith("CapBnd:")).findFirst().orElseThrow().substring(7).trim();
        assertEquals("CapEff: " + daemonBounding, sh(privileged, "grep CapEff /proc/self/status").replaceAll("\\s+", " "));
        assertEquals("CapEff: 00000000a80425fb", sh(plain, "grep CapEff /proc/self/status").replaceAll("\\s+", " "),
                "Docker's default set");
        assertEquals("Seccomp: 0", sh(privileged, "grep ^Seccomp: /proc/self/status").replaceAll("\\s+", " "));
        assertEquals("1", sh(plain, "grep -c ' /proc/keys ' /proc/mounts"), "masked paths stay for the plain container");
        assertEquals("0", sh(privileged, "grep -c ' /proc/keys ' /proc/mounts"), "not masked when privileged");
    }
}
