package io.coracle.runtime.daemon;

import io.coracle.cri.CriError;
import io.coracle.cgroup.Cgroups;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.PodSandboxStatus;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.image.ImageService;
import io.coracle.image.ImageServiceConfig;
import io.coracle.image.Platform;
import io.coracle.runtime.config.DaemonConfig;
import io.coracle.runtime.container.ContainerCreator;
import io.coracle.runtime.container.ContainerEvents;
import io.coracle.runtime.container.ContainerLifecycle;
import io.coracle.runtime.container.ContainerRecovery;
import io.coracle.runtime.container.ContainerRuntimeParts;
import io.coracle.runtime.container.ContainerStatsReader;
import io.coracle.runtime.container.ContainerStatusReader;
import io.coracle.runtime.container.ContainerStore;
import io.coracle.runtime.container.ContainerUpdater;
import io.coracle.runtime.container.ExecSyncRunner;
import io.coracle.runtime.container.PodMetricsReader;
import io.coracle.runtime.container.PodStatsReader;
import io.coracle.runtime.container.SandboxPods;
import io.coracle.sandbox.PodContainersHook;
import io.coracle.sandbox.Sandbox;
import io.coracle.sandbox.SandboxConfig;
import io.coracle.sandbox.SandboxService;
import io.coracle.shim.ExecRunner;
import io.coracle.shim.ShimLauncher;
import io.coracle.sys.NativePrograms;
import io.coracle.sys.PrivateFiles;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * Every service of the daemon, built from its configuration and recovered from disk: images,
 * pod sandboxes and containers, wired together (a pod's stop and remove reach its containers).
 */
public final class DaemonServices implements AutoCloseable {
    public final ImageService images;
    public final SandboxService sandboxes;
    public final ContainerStore containerStore;
    public final ContainerEvents events;
    public final ContainerCreator creator;
    public final ContainerLifecycle lifecycle;
    public final ContainerStatusReader containerStatus;
    public final ExecSyncRunner execSync;
    public final ContainerStatsReader stats;
    public final ContainerUpdater updater;
    public final PodStatsReader podStats;
    public final PodMetricsReader podMetrics;

    public DaemonServices(DaemonConfig config, NativePrograms programs) throws DaemonStartException {
        try {
            DaemonConfig.Registry reg = config.registry();
            images = new ImageService(new ImageServiceConfig(config.root(), reg.mirrors(), reg.insecure(),
                    reg.caFiles(), reg.maxConcurrentDownloads(), reg.pinnedImages(), config.root().resolve("containers"),
                    reg.platform().isEmpty() ? Platform.current().toString() : reg.platform(), reg.requestTimeout(),
                    reg.maxRetries()));
            DaemonConfig.Cni cni = config.cni();
            sandboxes = new SandboxService(new SandboxConfig(config.state().resolve("pods"),
                    config.root().resolve("sandboxes"), cni.binDirs(), cni.confDir(), cni.networkName(),
                    cni.defaultBridge(), cni.defaultSubnet(),
                    config.cgroupDriver() == DaemonConfig.CgroupDriver.SYSTEMD
                            ? SandboxConfig.CgroupDriver.SYSTEMD : SandboxConfig.CgroupDriver.CGROUPFS,
                    config.cgroupParent(), programs.pause(), config.podShmSizeBytes()));
            containerStore = new ContainerStore(config.root());
            events = new ContainerEvents(config.eventSubscriberQueue());
            // The containers' shim state dirs (sockets, exit records, exec process files): private, also after an older install.
            PrivateFiles.directory(config.state().resolve("ctr"));
            ContainerRuntimeParts parts = new ContainerRuntimeParts(containerStore, images,
                    new SandboxPods(sandboxes.store()), new ShimLauncher(programs), new ExecRunner(programs),
                    Cgroups.detect(), config.state(), events, config.runtimes());
            creator = new ContainerCreator(parts);
            lifecycle = new ContainerLifecycle(parts);
            containerStatus = new ContainerStatusReader(parts);
            execSync = new ExecSyncRunner(parts);
            stats = new ContainerStatsReader(parts);
            updater = new ContainerUpdater(parts);
            podStats = new PodStatsReader(sandboxes.store(), parts.cgroups(), stats);
            podMetrics = new PodMetricsReader(podStats);

            sandboxes.setContainersHook(new PodContainersHook() {
                @Override
                public void stopContainers(Sandbox sandbox) throws IOException {
                    try {
                        lifecycle.stopAllInPod(sandbox.id(), 0);
                    } catch (CriError e) {
                        throw new IOException(e.getMessage(), e);
                    }
                }

                @Override
                public void removeContainers(Sandbox sandbox) throws IOException {
                    try {
                        lifecycle.removeAllInPod(sandbox.id());
                    } catch (CriError e) {
                        throw new IOException(e.getMessage(), e);
                    }
                }
            });
            events.setPodView(new ContainerEvents.PodView() {
                @Override
                public Optional<PodSandboxStatus> podStatus(String podId) {
                    try {
                        return Optional.of(sandboxes.status(PodSandboxStatusRequest.newBuilder()
                                .setPodSandboxId(podId).build()).getStatus());
                    } catch (CriError e) {
                        return Optional.empty(); // the pod is gone: the kubelet ignores such an event
                    }
                }

                @Override
                public List<ContainerStatus> containerStatuses(String podId) {
                    return containerStatus.podStatuses(podId);
                }
            });
            sandboxes.setEventListener(events::publishSandbox);
            sandboxes.recover();
            new ContainerRecovery(parts, lifecycle).recover();
        } catch (IOException | RuntimeException e) {
            throw new DaemonStartException("cannot open Coracle's state under " + config.root() + " and "
                    + config.state() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        images.close();
    }
}
