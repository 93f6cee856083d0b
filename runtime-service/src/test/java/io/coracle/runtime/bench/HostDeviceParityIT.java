package io.coracle.runtime.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerMetadata;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.Device;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ImageBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Host devices and file mounts, the same CRI requests sent to Coracle and to Debian's containerd 1.6
 * (runc): a hostPath mount of a char device (/dev/null) and of a block device (a loop device made for
 * the test) into a non-privileged container, with and without the device in the config's
 * {@code devices}, and the kubelet's /dev/termination-log file mount. Both must answer alike: a
 * hostPath bind of a device node is openable only when the device rules allow it (the default rules
 * allow /dev/null, not a disk); a device listed in {@code devices} is; the termination-log file is
 * made on the container's /dev tmpfs and what the container writes reaches the host file.
 * Not in the cgroup-v2 stage: it needs containerd and loop devices, which user-mode-linux lacks; the
 * device rules themselves run there in DeviceControlTest and ContainerDeviceAndCgroupnsTest.
 */
class HostDeviceParityIT {

    private record Side(String name, RuntimeServiceGrpc.RuntimeServiceBlockingStub rt, String image,
                        String cgroupParent, Path logs, String appImage) {}

    @Test
    void hostPathDevicesAndTheTerminationLogBehaveAsOnContainerd() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/containerd")), "Debian's containerd is installed");
        Path work = Files.createTempDirectory(Path.of("/tmp"), "coracle-devparity-");
        Path backing = work.resolve("disk.img");
        Files.write(backing, new byte[1 << 20]);
        String loop = run("losetup", "-f", "--show", backing.toString()).trim();
        try (CriTestbed bed = CriTestbed.start()) {
            String reg = bed.registry.host();
            Path pauseBinary = Path.of(System.getProperty("coracle.dist"), "libexec", "coracle-pause");
            new ImageBuilder().hostProgram(pauseBinary.toString(), "pause").entrypoint("/pause")
                    .push(bed.registry, "parity/pause", "1");
            ImageBuilder.busybox().push(bed.registry, "parity/busybox", "1");
            ImageBuilder.busybox().user("app").push(bed.registry, "parity/busybox", "app");
            bed.daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder()
                    .setImage(reg + "/parity/busybox:app")).build());
            try (ContainerdProcess containerd = ContainerdProcess.start(work.resolve("containerd"), reg,
                    reg + "/parity/pause:1", "/coracle-parity-ctrd")) {
                String ctrdImage = reg + "/parity/busybox:1";
                for (String image : List.of(ctrdImage, reg + "/parity/busybox:app")) {
                    containerd.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder()
                            .setImage(image)).build());
                }
                List<Side> sides = List.of(
                        new Side("coracle", bed.runtime(), CriTestbed.BUSYBOX, "",
                                Files.createDirectories(work.resolve("logs-coracle")), reg + "/parity/busybox:app"),
                        new Side("containerd", containerd.runtime(), ctrdImage, containerd.cgroupParent,
                                Files.createDirectories(work.resolve("logs-containerd")), reg + "/parity/busybox:app"));
                Map<String, Map<String, String>> seen = new LinkedHashMap<>();
                for (Side s : sides) {
                    seen.put(s.name(), observe(s, loop, work));
                }
                // Not compared: what containerd 1.6 answers to the newer requests of the same issue (for the record).
                for (Side s : sides) {
                    System.err.println("newer CRI requests, " + s.name() + ": " + newerRequests(s));
                }
                System.err.println("host devices, coracle:    " + seen.get("coracle"));
                System.err.println("host devices, containerd: " + seen.get("containerd"));
                assertEquals(seen.get("containerd"), seen.get("coracle"));
                // And what both answer, spelled out.
                Map<String, String> c = seen.get("coracle");
                assertEquals("ok", c.get("hostPath /dev/null: write"));
                assertEquals("denied", c.get("hostPath loop: read"));
                assertEquals("denied", c.get("hostPath loop: write"));
                assertEquals("ok", c.get("devices loop: read"));
                assertEquals("regular empty file", c.get("termination-log: type"));
                assertEquals("bye", c.get("termination-log: host file"));
                assertEquals("tmpfs", c.get("termination-log: /dev is"));
            }
        } finally {
            run("losetup", "-d", loop);
            ContainerdProcess.unmountUnder(work);
            io.coracle.testing.DaemonProcess.deleteTree(work);
        }
    }

    /**
     * An image volume, a pid TARGET (valid, and naming no container) and supplemental_groups_policy
     * Strict for a user the image's /etc/group puts in a group: what the runtime answers.
     */
    private static Map<String, String> newerRequests(Side s) throws Exception {
        Map<String, String> out = new LinkedHashMap<>();
        PodSandboxConfig pod = pod(s, "newer");
        String podId = s.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build()).getPodSandboxId();
        try {
            out.put("image volume", attempt(() -> {
                String id = start(s, podId, pod, "imgvol", List.of(Mount.newBuilder().setContainerPath("/vol")
                        .setImage(ImageSpec.newBuilder().setImage(s.image())).setReadonly(true).build()), List.of());
                return outcome(s, id, "test -x /vol/bin/busybox") + " (/vol/bin/busybox present)";
            }));
            // The target in its own PID namespace, as the kubelet makes containers without shareProcessNamespace.
            String target = create(s, podId, pod, ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder()
                            .setName("target")).setImage(ImageSpec.newBuilder().setImage(s.image()))
                    .addAllCommand(List.of("sleep", "300")).setLogPath("target.log")
                    .setLinux(io.coracle.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(
                            io.coracle.cri.v1.LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(
                                    NamespaceOption.newBuilder().setPid(NamespaceMode.CONTAINER)))));
            out.put("pid TARGET", attempt(() -> {
                String id = create(s, podId, pod, ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder()
                                .setName("debug")).setImage(ImageSpec.newBuilder().setImage(s.image()))
                        .addAllCommand(List.of("sleep", "299")).setLogPath("debug.log")
                        .setLinux(io.coracle.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(
                                io.coracle.cri.v1.LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(
                                        NamespaceOption.newBuilder().setPid(NamespaceMode.TARGET).setTargetId(target)))));
                return "pid 1 is " + text(s, id, "tr '\\0' ' ' < /proc/1/cmdline");
            }));
            out.put("pid TARGET of no container", attempt(() -> create(s, podId, pod, ContainerConfig.newBuilder()
                    .setMetadata(ContainerMetadata.newBuilder().setName("debug2")).setImage(ImageSpec.newBuilder()
                            .setImage(s.image())).addAllCommand(List.of("sleep", "1")).setLogPath("debug2.log")
                    .setLinux(io.coracle.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(
                            io.coracle.cri.v1.LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(
                                    NamespaceOption.newBuilder().setPid(NamespaceMode.TARGET).setTargetId("f00")))))));
            out.put("supplemental_groups_policy Merge, id -G", attempt(() -> {
                String id = create(s, podId, pod, ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder()
                                .setName("merge")).setImage(ImageSpec.newBuilder().setImage(s.appImage()))
                        .addAllCommand(List.of("sleep", "299")).setLogPath("merge.log")
                        .setLinux(io.coracle.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(
                                io.coracle.cri.v1.LinuxContainerSecurityContext.newBuilder().addSupplementalGroups(5678))));
                return text(s, id, "id -G") + "; status user " + s.rt().containerStatus(
                        io.coracle.cri.v1.ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus()
                        .getUser().getLinux().getSupplementalGroupsList();
            }));
            out.put("supplemental_groups_policy Strict, id -G", attempt(() -> {
                String id = create(s, podId, pod, ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder()
                                .setName("strict")).setImage(ImageSpec.newBuilder().setImage(s.appImage()))
                        .addAllCommand(List.of("sleep", "299")).setLogPath("strict.log")
                        .setLinux(io.coracle.cri.v1.LinuxContainerConfig.newBuilder().setSecurityContext(
                                io.coracle.cri.v1.LinuxContainerSecurityContext.newBuilder().addSupplementalGroups(5678)
                                        .setSupplementalGroupsPolicy(io.coracle.cri.v1.SupplementalGroupsPolicy.Strict))));
                return text(s, id, "id -G") + "; status user " + s.rt().containerStatus(
                        io.coracle.cri.v1.ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus()
                        .getUser().getLinux().getSupplementalGroupsList();
            }));
            out.put("Status features.supplemental_groups_policy", String.valueOf(s.rt().status(
                    io.coracle.cri.v1.StatusRequest.getDefaultInstance()).getFeatures().getSupplementalGroupsPolicy()));
        } finally {
            s.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
            s.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        }
        return out;
    }

    private interface Attempt {
        String run() throws Exception;
    }

    /** The attempt's answer, or the gRPC status it failed with. */
    private static String attempt(Attempt a) throws Exception {
        try {
            return a.run();
        } catch (io.grpc.StatusRuntimeException e) {
            return e.getStatus().getCode() + ": " + e.getStatus().getDescription();
        } catch (AssertionError e) {
            return "failed: " + e.getMessage();
        }
    }

    private static PodSandboxConfig pod(Side s, String name) {
        String uid = s.name() + "-" + name + "-" + Long.toHexString(System.nanoTime());
        LinuxPodSandboxConfig.Builder linux = LinuxPodSandboxConfig.newBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(
                        NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE).setPid(NamespaceMode.CONTAINER)));
        if (!s.cgroupParent().isEmpty()) {
            linux.setCgroupParent(s.cgroupParent());
        }
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("parity").setUid(uid))
                .setLogDirectory(s.logs().resolve(uid).toString()).setLinux(linux).build(); // host network: no hostname, as the kubelet
    }

    /** The outcomes one runtime gives, by name. */
    private static Map<String, String> observe(Side s, String loop, Path work) throws Exception {
        Map<String, String> out = new LinkedHashMap<>();
        PodSandboxConfig pod = pod(s, "devices");
        String podId = s.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build()).getPodSandboxId();
        try {
            Path termLog = Files.writeString(work.resolve("termination-log-" + s.name()), "");
            String plain = start(s, podId, pod, "plain", List.of(
                    Mount.newBuilder().setHostPath("/dev/null").setContainerPath("/mnt/null").build(),
                    Mount.newBuilder().setHostPath(loop).setContainerPath("/mnt/loop").build(),
                    Mount.newBuilder().setHostPath(termLog.toString()).setContainerPath("/dev/termination-log").build()),
                    List.of());
            out.put("hostPath /dev/null: write", outcome(s, plain, "echo x > /mnt/null"));
            out.put("hostPath loop: read", outcome(s, plain, "head -c 1 /mnt/loop > /dev/null"));
            out.put("hostPath loop: write", outcome(s, plain, ": <> /mnt/loop"));
            out.put("hostPath loop: mknod", outcome(s, plain, "mknod /tmp/l b " + majorMinor(loop)));
            out.put("termination-log: type", text(s, plain, "stat -c %F /dev/termination-log"));
            out.put("termination-log: /dev is", text(s, plain, "stat -f -c %T /dev"));
            text(s, plain, "echo bye > /dev/termination-log");
            out.put("termination-log: host file", Files.readString(termLog).trim());

            String listed = start(s, podId, pod, "listed", List.of(),
                    List.of(Device.newBuilder().setHostPath(loop).setContainerPath("/dev/xloop").setPermissions("rw")
                            .build()));
            out.put("devices loop: read", outcome(s, listed, "head -c 1 /dev/xloop > /dev/null"));
            out.put("devices loop: mknod (m not granted)", outcome(s, listed, "mknod /tmp/l2 b " + majorMinor(loop)
                    + " && head -c 1 /tmp/l2 > /dev/null"));
        } finally {
            s.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
            s.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        }
        return out;
    }

    private static String majorMinor(String dev) throws Exception {
        return run("stat", "-L", "-c", "%t %T", dev).trim().lines().findFirst().map(l -> {
            String[] hex = l.split(" ");
            return Integer.parseInt(hex[0], 16) + " " + Integer.parseInt(hex[1], 16);
        }).orElseThrow();
    }

    private static String start(Side s, String podId, PodSandboxConfig pod, String name, List<Mount> mounts,
                                List<Device> devices) throws Exception {
        return create(s, podId, pod, ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder()
                        .setName(name)).setImage(ImageSpec.newBuilder().setImage(s.image()))
                .addAllCommand(List.of("sleep", "300")).addAllMounts(mounts).addAllDevices(devices)
                .setLogPath(name + ".log"));
    }

    /** Creates and starts the container. */
    private static String create(Side s, String podId, PodSandboxConfig pod, ContainerConfig.Builder config)
            throws Exception {
        String id = s.rt().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId).setConfig(config)
                .setSandboxConfig(pod).build()).getContainerId();
        s.rt().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        Thread.sleep(300);
        return id;
    }

    private static ExecSyncResponse exec(Side s, String id, String script) {
        return s.rt().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of("sh", "-c", script))
                .setTimeout(10).build());
    }

    /** "ok", "denied" (EPERM/EACCES) or the error the shell printed. */
    private static String outcome(Side s, String id, String script) {
        ExecSyncResponse r = exec(s, id, script);
        if (r.getExitCode() == 0) {
            return "ok";
        }
        String err = r.getStderr().toString(StandardCharsets.UTF_8);
        return err.contains("Operation not permitted") || err.contains("Permission denied") ? "denied" : "error";
    }

    private static String text(Side s, String id, String script) {
        ExecSyncResponse r = exec(s, id, script);
        assertEquals(0, r.getExitCode(), s.name() + ": " + script + ": " + r.getStderr().toStringUtf8());
        return r.getStdout().toString(StandardCharsets.UTF_8).trim();
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(new ArrayList<>(List.of(cmd))).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + ": " + out);
        }
        return out;
    }
}
