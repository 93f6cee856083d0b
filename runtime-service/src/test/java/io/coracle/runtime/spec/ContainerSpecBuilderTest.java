package io.coracle.runtime.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.coracle.cri.v1.Capability;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerMetadata;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.Int64Value;
import io.coracle.cri.v1.KeyValue;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.MountPropagation;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.SecurityProfile;
import io.coracle.image.content.ImageConfig;
import io.coracle.oci.Linux;
import io.coracle.oci.Resources;
import io.coracle.oci.Spec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ContainerSpecBuilderTest {
    @TempDir
    Path dir;
    Path lower;
    Path upperLayer;

    PodContext pod;

    @BeforeEach
    void layers() throws Exception {
        // Two layers: the top one overrides /etc/group.
        lower = Files.createDirectories(dir.resolve("l1"));
        upperLayer = Files.createDirectories(dir.resolve("l2"));
        Files.createDirectories(lower.resolve("etc"));
        Files.createDirectories(upperLayer.resolve("etc"));
        Files.writeString(lower.resolve("etc/passwd"), """
                root:x:0:0:root:/root:/bin/sh
                www-data:x:33:33:www-data:/var/www:/bin/sh
                app:x:1000:1000::/home/app:/bin/sh
                """);
        Files.writeString(lower.resolve("etc/group"), "root:x:0:\n");
        Files.writeString(upperLayer.resolve("etc/group"), """
                root:x:0:
                www-data:x:33:
                app:x:1000:
                extra:x:1234:app
                video:x:44:app,www-data
                """);
        pod = new PodContext("pod1", "mypod", Path.of("/run/x/netns"), Path.of("/proc/10/ns/ipc"),
                Path.of("/proc/10/ns/uts"), Path.of("/proc/10/ns/pid"), false, "/coracle/pod1", Path.of("/run/x/resolv.conf"),
                Path.of("/run/x/hosts"), Path.of("/run/x/hostname"), Path.of("/run/x/shm"), "/var/log/pods/x", "");
    }

    private Spec build(ContainerConfig.Builder config, ImageConfig.Settings image) throws Exception {
        config.setMetadata(ContainerMetadata.newBuilder().setName("c")).setImage(ImageSpec.newBuilder().setImage("img"));
        return ContainerSpecBuilder.build(new ContainerSpecInput("cid", config.build(), image, pod,
                List.of(upperLayer, lower), dir.resolve("up"), dir.resolve("work"), "/coracle/pod1/cid", false));
    }

    private static ImageConfig.Settings image(List<String> entrypoint, List<String> cmd, String user, List<String> env) {
        return new ImageConfig.Settings(user, env, entrypoint, cmd, "/srv", "SIGQUIT", null, null, null);
    }

    private static LinuxContainerConfig.Builder security(LinuxContainerSecurityContext.Builder sc) {
        return LinuxContainerConfig.newBuilder().setSecurityContext(sc);
    }

    @Test
    void commandAndArgsFollowTheKubeletRules() throws Exception {
        ImageConfig.Settings img = image(List.of("/entry"), List.of("default-arg"), null, null);
        assertEquals(List.of("/entry", "default-arg"), build(ContainerConfig.newBuilder(), img).process().args());
        assertEquals(List.of("/entry", "a"), build(ContainerConfig.newBuilder().addArgs("a"), img).process().args());
        assertEquals(List.of("/bin/sh", "-c", "x"), build(ContainerConfig.newBuilder().addCommand("/bin/sh")
                .addArgs("-c").addArgs("x"), img).process().args());
        assertEquals(List.of("/bin/true"), build(ContainerConfig.newBuilder().addCommand("/bin/true"), img).process().args());
        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                () -> build(ContainerConfig.newBuilder(), image(null, null, null, null)));
        assertTrue(e.getMessage().startsWith("no command"), e.getMessage());
    }

    @Test
    void envMergesImageThenConfigAndWorkingDirFallsBackToImage() throws Exception {
        Spec spec = build(ContainerConfig.newBuilder().addCommand("x")
                        .addEnvs(KeyValue.newBuilder().setKey("A").setValue(ByteString.copyFromUtf8("from-cri")))
                        .addEnvs(KeyValue.newBuilder().setKey("C").setValue(ByteString.copyFromUtf8("3"))),
                image(null, null, null, List.of("A=from-image", "B=2", "PATH=/img/bin")));
        assertTrue(spec.process().env().containsAll(List.of("A=from-cri", "B=2", "C=3", "PATH=/img/bin", "HOSTNAME=mypod")),
                spec.process().env().toString());
        assertEquals("/srv", spec.process().cwd());
    }

    @Test
    void userComesFromImageOrConfigWithGroupsFromTheImage() throws Exception {
        Spec byImage = build(ContainerConfig.newBuilder().addCommand("x"), image(null, null, "app", null));
        assertEquals(1000, byImage.process().user().uid());
        assertEquals(1000, byImage.process().user().gid());
        assertEquals(List.of(1000L, 1234L, 44L), byImage.process().user().additionalGids());

        Spec byUid = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(LinuxContainerSecurityContext
                .newBuilder().setRunAsUser(Int64Value.newBuilder().setValue(33)).setRunAsGroup(Int64Value.newBuilder()
                        .setValue(5)).addSupplementalGroups(777))), image(null, null, "app", null));
        assertEquals(33, byUid.process().user().uid());
        assertEquals(5, byUid.process().user().gid());
        assertEquals(List.of(5L, 44L, 777L), byUid.process().user().additionalGids());

        Spec uidGid = build(ContainerConfig.newBuilder().addCommand("x"), image(null, null, "4242:video", null));
        assertEquals(4242, uidGid.process().user().uid());
        assertEquals(44, uidGid.process().user().gid());

        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                () -> build(ContainerConfig.newBuilder().addCommand("x"), image(null, null, "nobody", null)));
        assertEquals("user 'nobody' is not in the image's /etc/passwd", e.getMessage());
        e = assertThrows(InvalidContainerConfigException.class,
                () -> build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(LinuxContainerSecurityContext
                        .newBuilder().setRunAsGroup(Int64Value.newBuilder().setValue(5)))), image(null, null, null, null)));
        assertEquals("run_as_group is set without run_as_user or run_as_username", e.getMessage());
    }

    @Test
    void namespacesJoinThePodsAndPidFollowsTheMode() throws Exception {
        Spec spec = build(ContainerConfig.newBuilder().addCommand("x"), image(null, null, null, null));
        assertEquals(List.of(new Linux.Namespace("mount", null), new Linux.Namespace("network", "/run/x/netns"),
                new Linux.Namespace("ipc", "/proc/10/ns/ipc"), new Linux.Namespace("uts", "/proc/10/ns/uts"),
                new Linux.Namespace("pid", "/proc/10/ns/pid")), spec.linux().namespaces());

        Spec own = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(LinuxContainerSecurityContext
                .newBuilder().setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.CONTAINER)))),
                image(null, null, null, null));
        assertTrue(own.linux().namespaces().contains(new Linux.Namespace("pid", null)));
    }

    private Spec build(ContainerConfig.Builder config, boolean cgroupV2) throws Exception {
        config.setMetadata(ContainerMetadata.newBuilder().setName("c")).setImage(ImageSpec.newBuilder().setImage("img"));
        return ContainerSpecBuilder.build(new ContainerSpecInput("cid", config.build(), image(null, null, null, null), pod,
                List.of(upperLayer, lower), dir.resolve("up"), dir.resolve("work"), "/coracle/pod1/cid", cgroupV2));
    }

    @Test
    void cgroupNamespaceIsPrivateOnV2UnlessPrivilegedAndNeverOnV1() throws Exception {
        Linux.Namespace cgroupns = new Linux.Namespace("cgroup", null);
        assertTrue(build(ContainerConfig.newBuilder().addCommand("x"), true).linux().namespaces().contains(cgroupns));
        assertFalse(build(ContainerConfig.newBuilder().addCommand("x"), false).linux().namespaces().contains(cgroupns));
        Spec privileged = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(
                LinuxContainerSecurityContext.newBuilder().setPrivileged(true))), true);
        assertFalse(privileged.linux().namespaces().stream().anyMatch(n -> n.type().equals("cgroup")));
        // The cgroup2 tree: read-only unless privileged; none on v1.
        assertTrue(build(ContainerConfig.newBuilder().addCommand("x"), true).mounts().stream().anyMatch(m ->
                m.destination().equals("/sys/fs/cgroup") && m.type().equals("cgroup2") && m.options().contains("ro")));
        assertTrue(privileged.mounts().stream().anyMatch(m -> m.destination().equals("/sys/fs/cgroup") && m.options().contains("rw")));
        assertFalse(build(ContainerConfig.newBuilder().addCommand("x"), false).mounts().stream()
                .anyMatch(m -> m.destination().equals("/sys/fs/cgroup")));
    }

    @Test
    void defaultDeviceRulesAreTheSameOnV1AndV2() throws Exception {
        List<Resources.DeviceRule> v1 = build(ContainerConfig.newBuilder().addCommand("x"), false).linux().resources().devices();
        List<Resources.DeviceRule> v2 = build(ContainerConfig.newBuilder().addCommand("x"), true).linux().resources().devices();
        assertEquals(v1, v2);
        assertEquals(DeviceStep.DEFAULT_RULES, v1);
        // Everything denied first; mknod of any node allowed (as runc's list), its use not.
        assertEquals(new Resources.DeviceRule(false, "a", null, null, "rwm"), v1.get(0));
        assertTrue(v1.contains(new Resources.DeviceRule(true, "b", null, null, "m")));
        assertFalse(v1.stream().anyMatch(r -> r.allow() && "b".equals(r.type()) && r.access().contains("r")));
        assertFalse(v1.contains(new Resources.DeviceRule(true, "c", 1L, 1L, "rwm")), "/dev/mem");
        Spec privileged = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(
                LinuxContainerSecurityContext.newBuilder().setPrivileged(true))), true);
        assertEquals(List.of(new Resources.DeviceRule(true, "a", null, null, "rwm")), privileged.linux().resources().devices());
    }

    @Test
    void deviceRuleNumbersAndAccessAreRangeChecked() {
        new Resources.DeviceRule(true, "c", 4294967295L, -1L, "rwm");
        assertThrows(IllegalArgumentException.class, () -> new Resources.DeviceRule(true, "c", 4294967296L, null, "r"));
        assertThrows(IllegalArgumentException.class, () -> new Resources.DeviceRule(true, "c", -2L, null, "r"));
        assertThrows(IllegalArgumentException.class, () -> new Resources.DeviceRule(true, "b", 8L, Long.MIN_VALUE, "r"));
        assertThrows(IllegalArgumentException.class, () -> new Resources.DeviceRule(true, "x", null, null, "r"));
        assertThrows(IllegalArgumentException.class, () -> new Resources.DeviceRule(true, "c", null, null, ""));
        assertThrows(IllegalArgumentException.class, () -> new Resources.DeviceRule(true, "c", null, null, "rr"));
        assertThrows(IllegalArgumentException.class, () -> new Resources.DeviceRule(true, "c", null, null, "rwx"));
    }

    @Test
    void mountsBindHostPathsWithReadOnlyAndPropagation() throws Exception {
        Path data = Files.createDirectories(dir.resolve("data"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), data);
        Spec spec = build(ContainerConfig.newBuilder().addCommand("x")
                .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(link.toString()).setReadonly(true)
                        .setPropagation(MountPropagation.PROPAGATION_HOST_TO_CONTAINER)), image(null, null, null, null));
        io.coracle.oci.Mount m = spec.mounts().stream().filter(x -> x.destination().equals("/data")).findFirst().orElseThrow();
        assertEquals(data.toRealPath().toString(), m.source());
        assertEquals(List.of("rbind", "ro", "rslave"), m.options());
        assertTrue(spec.mounts().stream().anyMatch(x -> x.destination().equals("/etc/resolv.conf")
                && x.source().equals("/run/x/resolv.conf")));
        assertTrue(spec.mounts().stream().anyMatch(x -> x.destination().equals("/dev/shm") && x.source().equals("/run/x/shm")));

        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                () -> build(ContainerConfig.newBuilder().addCommand("x").addMounts(Mount.newBuilder()
                        .setContainerPath("/data").setHostPath("/nonexistent/coracle")), image(null, null, null, null)));
        assertEquals("mounts: host_path '/nonexistent/coracle' for /data does not exist", e.getMessage());
        // A container_path with '..' is refused at the CRI edge (CriRequestValidatorTest).
    }

    @Test
    void capabilitiesDefaultAddDropAndPrivileged() throws Exception {
        Spec plain = build(ContainerConfig.newBuilder().addCommand("x"), image(null, null, null, null));
        assertEquals(SecurityStep.DEFAULT_CAPABILITIES, plain.process().capabilities().effective());
        assertTrue(plain.linux().maskedPaths().contains("/proc/kcore"));
        assertNull(plain.linux().seccomp(), "no profile requested means unconfined");

        Spec tuned = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(LinuxContainerSecurityContext
                .newBuilder().setCapabilities(Capability.newBuilder().addAddCapabilities("NET_ADMIN")
                        .addDropCapabilities("CAP_CHOWN").addDropCapabilities("kill")).setNoNewPrivs(true)
                .setReadonlyRootfs(true).setSeccomp(SecurityProfile.newBuilder()
                        .setProfileType(SecurityProfile.ProfileType.RuntimeDefault)))), image(null, null, null, null));
        List<String> caps = tuned.process().capabilities().effective();
        assertTrue(caps.contains("CAP_NET_ADMIN"));
        assertFalse(caps.contains("CAP_CHOWN"));
        assertFalse(caps.contains("CAP_KILL"));
        assertTrue(tuned.process().noNewPrivileges());
        assertTrue(tuned.root().readonly());
        assertEquals("SCMP_ACT_ERRNO", tuned.linux().seccomp().defaultAction(), "RuntimeDefault is an allowlist");
        assertTrue(tuned.linux().seccomp().syscalls().stream().filter(r -> r.action().equals("SCMP_ACT_ALLOW"))
                .noneMatch(r -> r.names().contains("mount")), "mount needs CAP_SYS_ADMIN");

        Spec dropAll = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(LinuxContainerSecurityContext
                .newBuilder().setCapabilities(Capability.newBuilder().addDropCapabilities("ALL")
                        .addAddCapabilities("NET_BIND_SERVICE")))), image(null, null, null, null));
        assertEquals(List.of("CAP_NET_BIND_SERVICE"), dropAll.process().capabilities().effective());

        Spec privileged = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(
                LinuxContainerSecurityContext.newBuilder().setPrivileged(true))), image(null, null, null, null));
        assertEquals(SecurityStep.HELD_CAPABILITIES, privileged.process().capabilities().effective());
        assertTrue(SecurityStep.HELD_CAPABILITIES.contains("CAP_SYS_ADMIN"));
        assertTrue(privileged.linux().maskedPaths().isEmpty());

        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                () -> build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(LinuxContainerSecurityContext
                        .newBuilder().setCapabilities(Capability.newBuilder().addAddCapabilities("FLY")))),
                        image(null, null, null, null)));
        assertEquals("capabilities.add_capabilities: unknown capability 'FLY'", e.getMessage());
    }

    @Test
    void localhostSeccompProfileIsLoadedOrRejected() throws Exception {
        Path good = Files.writeString(dir.resolve("good.json"), """
                {"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}
                """);
        Spec spec = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(LinuxContainerSecurityContext
                .newBuilder().setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.Localhost)
                        .setLocalhostRef(good.toString())))), image(null, null, null, null));
        assertEquals("SCMP_ACT_ERRNO", spec.linux().seccomp().defaultAction());

        Path bad = Files.writeString(dir.resolve("bad.json"), "{\"defaultAction\":\"SCMP_ACT_FLY\"}");
        for (String ref : List.of(bad.toString(), dir.resolve("missing.json").toString())) {
            InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                    () -> build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(
                            LinuxContainerSecurityContext.newBuilder().setSeccomp(SecurityProfile.newBuilder()
                                    .setProfileType(SecurityProfile.ProfileType.Localhost).setLocalhostRef(ref)))),
                            image(null, null, null, null)));
            assertTrue(e.getMessage().startsWith("seccomp: localhost profile " + ref), e.getMessage());
        }
    }

    @Test
    void resourcesAndOverlayRootfs() throws Exception {
        Spec spec = build(ContainerConfig.newBuilder().addCommand("x").setLinux(LinuxContainerConfig.newBuilder()
                .setResources(LinuxContainerResources.newBuilder().setCpuShares(512).setCpuQuota(50000)
                        .setCpuPeriod(100000).setMemoryLimitInBytes(64L << 20).setCpusetCpus("0")
                        .setOomScoreAdj(500))), image(null, null, null, null));
        assertEquals(512L, spec.linux().resources().cpu().shares());
        assertEquals(50000L, spec.linux().resources().cpu().quota());
        assertEquals(64L << 20, spec.linux().resources().memory().limit());
        assertEquals("0", spec.linux().resources().cpu().cpus());
        assertEquals(500, spec.process().oomScoreAdj());
        assertEquals("/coracle/pod1/cid", spec.linux().cgroupsPath());
        assertEquals(upperLayer + ":" + lower, spec.annotations().get(Spec.OVERLAY_LOWERDIRS));
        assertEquals(dir.resolve("up").toString(), spec.annotations().get(Spec.OVERLAY_UPPERDIR));
        assertEquals("rootfs", spec.root().path());

        // Unified settings on cgroup v1 are refused at the CRI edge (CriRequestValidatorTest).

        // On cgroup v2 the map goes into the spec, file names checked.
        ContainerConfig.Builder unified = ContainerConfig.newBuilder().addCommand("x").setMetadata(
                ContainerMetadata.newBuilder().setName("c")).setImage(ImageSpec.newBuilder().setImage("img"))
                .setLinux(LinuxContainerConfig.newBuilder().setResources(LinuxContainerResources.newBuilder()
                        .putUnified("memory.high", "64M")));
        Spec v2 = ContainerSpecBuilder.build(new ContainerSpecInput("cid", unified.build(),
                image(null, null, null, null), pod, List.of(upperLayer, lower), dir.resolve("up"), dir.resolve("work"),
                "/coracle/pod1/cid", true));
        assertEquals(java.util.Map.of("memory.high", "64M"), v2.linux().resources().unified());
        unified.getLinuxBuilder().getResourcesBuilder().putUnified("../escape", "1");
        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                () -> ContainerSpecBuilder.build(new ContainerSpecInput("cid", unified.build(), image(null, null, null, null), pod, List.of(upperLayer, lower),
                dir.resolve("up"), dir.resolve("work"), "/coracle/pod1/cid", true)));
        assertTrue(e.getMessage().contains("'../escape' is not a cgroup v2 file name"), e.getMessage());
    }

    private Spec buildWith(ContainerConfig.Builder config, ContainerReferences refs) throws Exception {
        config.setMetadata(ContainerMetadata.newBuilder().setName("c")).setImage(ImageSpec.newBuilder().setImage("img"))
                .addCommand("x");
        return ContainerSpecBuilder.build(new ContainerSpecInput("cid", config.build(), image(null, null, null, null),
                pod, List.of(upperLayer, lower), dir.resolve("up"), dir.resolve("work"), "/coracle/pod1/cid", false,
                HostConfinement.NONE, refs));
    }

    private static io.coracle.cri.v1.Mount imageMount(String path) {
        return io.coracle.cri.v1.Mount.newBuilder().setContainerPath(path).setReadonly(true)
                .setImage(ImageSpec.newBuilder().setImage("vol")).build();
    }

    @Test
    void anImageVolumeIsItsLayersOverlaidReadOnly() throws Exception {
        Path empty = dir.resolve("empty");
        ContainerReferences refs = new ContainerReferences(List.of(
                new ImageVolume("/two", "sha256:a", List.of(Path.of("/s/2"), Path.of("/s/1"))),
                new ImageVolume("/one", "sha256:b", List.of(Path.of("/s/3")))), empty, null, null);
        Spec spec = buildWith(ContainerConfig.newBuilder().addMounts(imageMount("/two")).addMounts(imageMount("/one")),
                refs);
        io.coracle.oci.Mount two = spec.mounts().stream().filter(m -> m.destination().equals("/two")).findFirst()
                .orElseThrow();
        assertEquals(new io.coracle.oci.Mount("/two", "overlay", "overlay",
                List.of("ro", "nodev", "lowerdir=/s/2:/s/1")), two);
        io.coracle.oci.Mount one = spec.mounts().stream().filter(m -> m.destination().equals("/one")).findFirst()
                .orElseThrow();
        assertEquals(List.of("ro", "nodev", "lowerdir=/s/3:" + empty), one.options(), "an empty bottom layer");
    }

    @Test
    void aLayerPathOverlayOptionsCannotCarryIsRefused() {
        for (String bad : List.of("/s/a,upperdir=/etc", "/s/a:b", "/s/a\\b", "/s/a\nb")) {
            ContainerReferences refs = new ContainerReferences(List.of(new ImageVolume("/v", "sha256:a",
                    List.of(Path.of(bad), Path.of("/s/1")))), dir, null, null);
            InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                    () -> buildWith(ContainerConfig.newBuilder().addMounts(imageMount("/v")), refs), bad);
            assertTrue(e.getMessage().contains("overlayfs options cannot carry"), e.getMessage());
        }
    }

    @Test
    void pidTargetJoinsTheResolvedNamespaceOnly() throws Exception {
        ContainerConfig.Builder target = ContainerConfig.newBuilder().setLinux(security(LinuxContainerSecurityContext
                .newBuilder().setNamespaceOptions(io.coracle.cri.v1.NamespaceOption.newBuilder()
                        .setPid(io.coracle.cri.v1.NamespaceMode.TARGET).setTargetId("t"))));
        Spec spec = buildWith(target.clone(), new ContainerReferences(List.of(), null, Path.of("/proc/77/ns/pid"),
                "pid:[1]"));
        assertTrue(spec.linux().namespaces().contains(new io.coracle.oci.Linux.Namespace("pid", "/proc/77/ns/pid")),
                spec.linux().namespaces().toString());
        assertThrows(InvalidContainerConfigException.class, () -> buildWith(target.clone(), ContainerReferences.NONE));
    }

    @Test
    void strictTakesNoGroupFromTheImage() throws Exception {
        Spec strict = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(LinuxContainerSecurityContext
                .newBuilder().addSupplementalGroups(777).setSupplementalGroupsPolicy(
                        io.coracle.cri.v1.SupplementalGroupsPolicy.Strict))), image(null, null, "app", null));
        assertEquals(List.of(1000L, 777L), strict.process().user().additionalGids());
        Spec byUid = build(ContainerConfig.newBuilder().addCommand("x").setLinux(security(LinuxContainerSecurityContext
                .newBuilder().setRunAsUser(Int64Value.newBuilder().setValue(33)).setSupplementalGroupsPolicy(
                        io.coracle.cri.v1.SupplementalGroupsPolicy.Strict))), image(null, null, null, null));
        assertEquals(List.of(33L), byUid.process().user().additionalGids(), "www-data's primary group only");
    }
}
