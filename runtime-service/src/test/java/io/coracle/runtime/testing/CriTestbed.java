package io.coracle.runtime.testing;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerMetadata;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;

/**
 * A local registry with busybox images, and a Coracle daemon whose docker.io mirror is that registry,
 * with its own CNI conf dir, bridge and subnet, cgroup parent and log dir. For container tests.
 */
public final class CriTestbed implements AutoCloseable {
    public static final String BUSYBOX = "docker.io/library/busybox:latest";
    /** The same busybox with User "app" and StopSignal SIGUSR1. */
    public static final String BUSYBOX_APP = "docker.io/library/busybox:app";

    public final LocalRegistry registry;
    public DaemonProcess daemon;
    public final Path logs;

    private CriTestbed(LocalRegistry registry, DaemonProcess daemon, Path logs) {
        this.registry = registry;
        this.daemon = daemon;
        this.logs = logs;
    }

    public static CriTestbed start() throws Exception {
        return start("");
    }

    /** As {@link #start()}, with {@code extraToml} (starting with a table header) appended to the daemon's config. */
    public static CriTestbed start(String extraToml) throws Exception {
        LocalRegistry registry = LocalRegistry.start();
        try {
            ImageBuilder.busybox().push(registry, "library/busybox", "latest");
            ImageBuilder.busybox().user("app").stopSignal("SIGUSR1").push(registry, "library/busybox", "app");
            Path dir = Files.createTempDirectory("coracle-it-");
            DaemonProcess daemon = DaemonProcess.launchWith(dir, """
                    [registry.mirrors."docker.io"]
                    endpoints = ["http://%s"]
                    """.formatted(registry.host()) + extraToml);
            daemon.awaitServing(Duration.ofSeconds(30));
            CriTestbed bed = new CriTestbed(registry, daemon, Files.createDirectories(dir.resolve("logs")));
            for (String image : java.util.List.of(BUSYBOX, BUSYBOX_APP)) {
                daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build());
            }
            return bed;
        } catch (Exception e) {
            registry.close();
            throw e;
        }
    }

    /** Kills the daemon with SIGKILL and starts a new one on the same socket, root and state. */
    public void crashAndRestartDaemon() throws Exception {
        daemon.kill9();
        daemon = daemon.relaunch();
        daemon.awaitServing(Duration.ofSeconds(30));
    }

    public RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime() {
        return daemon.runtime();
    }

    public String cgroupParent() {
        return daemon.cgroupParent();
    }

    /** A pod config with a fresh uid and its log directory under the testbed's. */
    public PodSandboxConfig.Builder pod(String name) {
        String uid = name + "-" + Long.toHexString(System.nanoTime());
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("test").setUid(uid))
                .setHostname(name)
                .setLogDirectory(logs.resolve(uid).toString())
                .setLinux(LinuxPodSandboxConfig.getDefaultInstance());
    }

    public String runPod(PodSandboxConfig config) {
        return runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config).build()).getPodSandboxId();
    }

    public static ContainerConfig.Builder container(String name, String... command) {
        return ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(BUSYBOX))
                .addAllCommand(java.util.List.of(command))
                .setLogPath(name + ".log");
    }

    public String create(String podId, PodSandboxConfig pod, ContainerConfig.Builder config) {
        return runtime().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                .setConfig(config).setSandboxConfig(pod).build()).getContainerId();
    }

    public String createAndStart(String podId, PodSandboxConfig pod, ContainerConfig.Builder config) {
        String id = create(podId, pod, config);
        runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    public ContainerStatus status(String id) {
        return runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus();
    }

    /** Polls the container's status until {@code done} holds (bounded). */
    public ContainerStatus awaitStatus(String id, Predicate<ContainerStatus> done, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ContainerStatus s = status(id);
        while (!done.test(s)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("container " + id + " never reached the expected state: " + s);
            }
            Thread.sleep(20);
            s = status(id);
        }
        return s;
    }

    public void removePod(String podId) {
        runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
    }

    @Override
    public void close() throws Exception {
        try {
            if (daemon.process().isAlive()) {
                for (var c : runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                    runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
                }
                for (var p : runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    removePod(p.getId());
                }
            }
        } finally {
            try {
                daemon.close();
            } finally {
                registry.close();
            }
        }
    }
}
