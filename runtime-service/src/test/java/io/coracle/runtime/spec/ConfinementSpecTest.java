package io.coracle.runtime.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.CriError;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerMetadata;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.MountPropagation;
import io.coracle.cri.v1.SELinuxOption;
import io.coracle.cri.v1.SecurityProfile;
import io.coracle.image.content.ImageConfig;
import io.coracle.oci.Linux;
import io.coracle.oci.Spec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The confinement parts of a container's spec: recursive read-only mounts, AppArmor and SELinux
 * on hosts with and without them, and what privileged changes (and what it leaves to others).
 */
class ConfinementSpecTest {
    @TempDir
    Path dir;
    PodContext pod;
    Path volume;

    @BeforeEach
    void setUp() throws Exception {
        Files.createDirectories(dir.resolve("layer"));
        volume = Files.createDirectories(dir.resolve("volume"));
        pod = new PodContext("pod1", "mypod", Path.of("/run/x/netns"), Path.of("/proc/10/ns/ipc"),
                Path.of("/proc/10/ns/uts"), Path.of("/proc/10/ns/pid"), false, "/coracle/pod1", null, null, null, null,
                "", "");
    }

    private Spec build(ContainerConfig.Builder config, HostConfinement host) {
        config.setMetadata(ContainerMetadata.newBuilder().setName("c")).setImage(ImageSpec.newBuilder().setImage("img"))
                .addCommand("x");
        ImageConfig.Settings image = new ImageConfig.Settings(null, null, null, null, null, null, null, null, null);
        return ContainerSpecBuilder.build(new ContainerSpecInput("cid", config.build(), image, pod,
                List.of(dir.resolve("layer")), dir.resolve("up"), dir.resolve("work"), "/coracle/pod1/cid", false, host));
    }

    private static ContainerConfig.Builder withSecurity(LinuxContainerSecurityContext.Builder sc) {
        return ContainerConfig.newBuilder().setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc));
    }

    private ContainerConfig.Builder withVolume(boolean readonly, boolean rro, MountPropagation propagation) {
        return ContainerConfig.newBuilder().addMounts(Mount.newBuilder().setContainerPath("/data")
                .setHostPath(volume.toString()).setReadonly(readonly).setRecursiveReadOnly(rro).setPropagation(propagation));
    }

    private static List<String> options(Spec spec, String dest) {
        return spec.mounts().stream().filter(m -> m.destination().equals(dest)).findFirst().orElseThrow().options();
    }

    private static final HostConfinement RRO = new HostConfinement(true, null, false);

    @Test
    void recursiveReadOnlyAddsRroToAPrivateReadOnlyBind() {
        assertEquals(List.of("rbind", "ro", "rro", "rprivate"),
                options(build(withVolume(true, true, MountPropagation.PROPAGATION_PRIVATE), RRO), "/data"));
        // readonly alone: the bind only, as containerd 2.x and the kubelet's default (recursiveReadOnly: Disabled)
        assertEquals(List.of("rbind", "ro", "rprivate"),
                options(build(withVolume(true, false, MountPropagation.PROPAGATION_PRIVATE), RRO), "/data"));
        assertEquals(List.of("rbind", "rw", "rprivate"),
                options(build(withVolume(false, false, MountPropagation.PROPAGATION_PRIVATE), RRO), "/data"));
    }

    @Test
    void recursiveReadOnlyIsRefusedWhereItCannotHold() {
        CriError e = assertThrows(CriError.class, () -> build(withVolume(false, true, MountPropagation.PROPAGATION_PRIVATE), RRO));
        assertEquals(CriError.Kind.INVALID, e.kind());
        assertEquals("mounts: /data: recursive_read_only needs readonly: true", e.getMessage());
        for (MountPropagation p : List.of(MountPropagation.PROPAGATION_HOST_TO_CONTAINER,
                MountPropagation.PROPAGATION_BIDIRECTIONAL)) {
            e = assertThrows(CriError.class, () -> build(withVolume(true, true, p), RRO));
            assertEquals(CriError.Kind.INVALID, e.kind());
            assertTrue(e.getMessage().startsWith("mounts: /data: recursive_read_only needs private propagation, not " + p),
                    e.getMessage());
        }
        e = assertThrows(CriError.class, () -> build(withVolume(true, true, MountPropagation.PROPAGATION_PRIVATE),
                HostConfinement.NONE));
        assertEquals(CriError.Kind.INVALID, e.kind());
        assertTrue(e.getMessage().contains("recursive_read_only is not supported by this runtime handler"), e.getMessage());
    }

    private static LinuxContainerSecurityContext.Builder apparmor(SecurityProfile.ProfileType type, String ref) {
        return LinuxContainerSecurityContext.newBuilder().setApparmor(SecurityProfile.newBuilder().setProfileType(type)
                .setLocalhostRef(ref));
    }

    @Test
    void withoutAppArmorALocalhostProfileFailsAsContainerdFailsAndTheRestRunsWithout() {
        for (LinuxContainerSecurityContext.Builder sc : List.of(
                apparmor(SecurityProfile.ProfileType.Localhost, "my-profile"),
                LinuxContainerSecurityContext.newBuilder().setApparmorProfile("localhost/my-profile"))) {
            CriError e = assertThrows(CriError.class, () -> build(withSecurity(sc), HostConfinement.NONE));
            assertEquals(CriError.Kind.UNKNOWN, e.kind(), "containerd's code: a plain error is UNKNOWN over gRPC");
            assertEquals("apparmor is not supported: AppArmor is not enabled on this host, so the profile "
                    + "localhost/my-profile cannot be applied", e.getMessage());
        }
        for (LinuxContainerSecurityContext.Builder sc : List.of(LinuxContainerSecurityContext.newBuilder(),
                apparmor(SecurityProfile.ProfileType.RuntimeDefault, ""), apparmor(SecurityProfile.ProfileType.Unconfined, ""),
                LinuxContainerSecurityContext.newBuilder().setApparmorProfile("runtime/default"),
                LinuxContainerSecurityContext.newBuilder().setApparmorProfile("unconfined"))) {
            assertNull(build(withSecurity(sc), HostConfinement.NONE).process().apparmorProfile());
        }
        CriError e = assertThrows(CriError.class, () -> build(withSecurity(LinuxContainerSecurityContext.newBuilder()
                .setApparmorProfile("docker-default")), HostConfinement.NONE));
        assertEquals(CriError.Kind.INVALID, e.kind());
        e = assertThrows(CriError.class, () -> build(withSecurity(apparmor(SecurityProfile.ProfileType.Localhost,
                "a\nchangeprofile unconfined")), HostConfinement.NONE));
        assertEquals(CriError.Kind.INVALID, e.kind(), e.getMessage());
    }

    /** A stand-in apparmor_parser that records each call's arguments and the profile file it was given. */
    private Path fakeParser(int exit) throws Exception {
        Path script = dir.resolve("apparmor_parser");
        Files.writeString(script, "#!/bin/sh\necho \"$@\" >> " + dir.resolve("calls") + "\ncat \"$2\" > "
                + dir.resolve("loaded") + "\necho parser says no >&2\nexit " + exit + "\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        return script;
    }

    @Test
    void withAppArmorRuntimeDefaultLoadsTheProfileOnceAndLocalhostNamesItsOwn() throws Exception {
        HostConfinement host = new HostConfinement(false, new AppArmorProfiles(fakeParser(0), dir.resolve("aa")), false);
        Spec first = build(withSecurity(apparmor(SecurityProfile.ProfileType.RuntimeDefault, "")), host);
        assertEquals("coracle-default", first.process().apparmorProfile());
        assertEquals("coracle-default", build(withSecurity(LinuxContainerSecurityContext.newBuilder()), host)
                .process().apparmorProfile(), "no request: RuntimeDefault for a non-privileged container, as containerd");
        assertEquals(List.of("-Kr " + dir.resolve("aa/coracle-default")), Files.readAllLines(dir.resolve("calls")),
                "loaded once, with apparmor_parser -Kr");
        String loaded = Files.readString(dir.resolve("loaded"));
        assertEquals(AppArmorProfiles.defaultProfileText(), loaded);
        assertTrue(loaded.contains("profile coracle-default flags=(attach_disconnected,mediate_deleted)"));
        assertTrue(loaded.contains("deny mount,") && loaded.contains("deny @{PROC}/sysrq-trigger rwklx,")
                && loaded.contains("deny @{PROC}/kcore rwklx,") && loaded.contains("deny /sys/firmware/** rwklx,"));
        assertEquals("my-profile", build(withSecurity(apparmor(SecurityProfile.ProfileType.Localhost, "my-profile")), host)
                .process().apparmorProfile());
        assertEquals("my-profile", build(withSecurity(LinuxContainerSecurityContext.newBuilder()
                .setApparmorProfile("localhost/my-profile")), host).process().apparmorProfile());
        assertNull(build(withSecurity(apparmor(SecurityProfile.ProfileType.Unconfined, "")), host).process().apparmorProfile());
        assertNull(build(withSecurity(LinuxContainerSecurityContext.newBuilder().setPrivileged(true)), host)
                .process().apparmorProfile(), "privileged: unconfined");
        assertNull(build(withSecurity(apparmor(SecurityProfile.ProfileType.RuntimeDefault, "").setPrivileged(true)), host)
                .process().apparmorProfile());
    }

    @Test
    void aRuntimeDefaultProfileThatCannotLoadFailsTheContainerInsteadOfRunningItUnconfined() throws Exception {
        HostConfinement host = new HostConfinement(false, new AppArmorProfiles(fakeParser(1), dir.resolve("aa")), false);
        CriError e = assertThrows(CriError.class, () -> build(withSecurity(LinuxContainerSecurityContext.newBuilder()), host));
        assertEquals(CriError.Kind.INTERNAL, e.kind());
        assertTrue(e.getMessage().contains("could not be loaded") && e.getMessage().contains("parser says no"),
                e.getMessage());
        // Unconfined asks for nothing to load.
        assertNull(build(withSecurity(apparmor(SecurityProfile.ProfileType.Unconfined, "")), host).process().apparmorProfile());
    }

    private static LinuxContainerSecurityContext.Builder selinux(String user, String role, String type, String level) {
        return LinuxContainerSecurityContext.newBuilder().setSelinuxOptions(SELinuxOption.newBuilder().setUser(user)
                .setRole(role).setType(type).setLevel(level));
    }

    @Test
    void selinuxOptionsBecomeLabelsWhereSelinuxEnforcesAndAreReportedElsewhere() {
        HostConfinement enforcing = new HostConfinement(false, null, true);
        Spec spec = build(withSecurity(selinux("", "", "spc_t", "s0:c1,c2")), enforcing);
        assertEquals("system_u:system_r:spc_t:s0:c1,c2", spec.process().selinuxLabel());
        assertEquals("system_u:object_r:container_file_t:s0:c1,c2", spec.linux().mountLabel());
        CriError e = assertThrows(CriError.class, () -> build(withSecurity(selinux("", "", "a:b", "")), enforcing));
        assertEquals(CriError.Kind.INVALID, e.kind());
        assertEquals("selinux_options.type: 'a:b' is not an SELinux type", e.getMessage());

        Spec unapplied = build(withSecurity(selinux("u", "r", "t", "s0")), HostConfinement.NONE);
        assertNull(unapplied.process().selinuxLabel());
        assertNull(unapplied.linux().mountLabel());
        ContainerConfig config = withSecurity(selinux("u", "r", "t", "s0")).build();
        assertEquals(Optional.of("selinux_options (user=u role=r type=t level=s0) not applied: SELinux is not enforcing"
                + " on this host"), LsmStep.unappliedSelinux(config, false));
        assertEquals(Optional.empty(), LsmStep.unappliedSelinux(config, true));
        assertEquals(Optional.empty(), LsmStep.unappliedSelinux(ContainerConfig.getDefaultInstance(), false));
    }

    @Test
    void privilegedGetsTheHostsDevicesCapsAndWritableSysAndNoneOfItLeaksToOthers() throws Exception {
        Spec privileged = build(withSecurity(LinuxContainerSecurityContext.newBuilder().setPrivileged(true)), HostConfinement.NONE);
        Spec plain = build(withSecurity(LinuxContainerSecurityContext.newBuilder()), HostConfinement.NONE);
        List<String> devices = privileged.linux().devices().stream().map(Linux.Device::path).toList();
        try (var entries = Files.list(Path.of("/dev"))) {
            for (Path p : entries.toList()) {
                String name = p.getFileName().toString();
                int type = Files.isSymbolicLink(p) ? 0 : (Integer) Files.getAttribute(p, "unix:mode") & 0170000;
                boolean node = (type == 0020000 || type == 0060000) && !name.equals("console"); // char or block
                assertEquals(node, devices.contains("/dev/" + name), "/dev/" + name);
            }
        }
        assertTrue(devices.contains("/dev/null"));
        assertFalse(devices.stream().anyMatch(d -> d.startsWith("/dev/pts/") || d.startsWith("/dev/shm/")), devices.toString());
        assertEquals(List.of(), plain.linux().devices(), "a non-privileged container gets no host device");
        assertTrue(options(privileged, "/sys").contains("rw"));
        assertTrue(options(plain, "/sys").contains("ro"));
        assertEquals(SecurityStep.HELD_CAPABILITIES, privileged.process().capabilities().bounding());
        assertEquals(SecurityStep.DEFAULT_CAPABILITIES, plain.process().capabilities().bounding());
        assertTrue(privileged.linux().maskedPaths().isEmpty() && privileged.linux().readonlyPaths().isEmpty());
        assertEquals(SecurityStep.DEFAULT_MASKED_PATHS, plain.linux().maskedPaths());
        assertNull(privileged.linux().seccomp());
        assertEquals("a", privileged.linux().resources().devices().getFirst().type());
        assertTrue(privileged.linux().resources().devices().getFirst().allow());
        assertFalse(plain.linux().resources().devices().getFirst().allow(), "deny all first");
    }
}
