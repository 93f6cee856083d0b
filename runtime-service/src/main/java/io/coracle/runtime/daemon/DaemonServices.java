package io.coracle.runtime.daemon;

import io.coracle.cri.CriError;
import io.coracle.cgroup.Cgroups;
import io.coracle.cgroup.systemd.SystemdUnits;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.PodSandboxStatus;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.image.ImageService;
import io.coracle.image.ImageServiceConfig;
import io.coracle.image.Platform;
import io.coracle.runtime.config.DaemonConfig;
import io.coracle.runtime.checkpoint.CriuSupport;
import io.coracle.runtime.container.ContainerCheckpointer;
import io.coracle.runtime.container.ContainerCreator;
import io.coracle.runtime.container.ContainerEvents;
import io.coracle.runtime.container.ContainerLifecycle;
import io.coracle.runtime.container.ContainerRecovery;
import io.coracle.runtime.container.ContainerScopes;
import io.coracle.runtime.container.ContainerStatsReader;
import io.coracle.runtime.container.ContainerStatusReader;
import io.coracle.runtime.container.ContainerStore;
import io.coracle.runtime.container.ContainerUpdater;
import io.coracle.runtime.container.ExecSyncRunner;
import io.coracle.runtime.container.HostFeatures;
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
import io.coracle.sys.TreeDiscarder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Every service of the daemon, built from its configuration and recovered from disk: images,
 * pod sandboxes and containers, wired together (a pod's stop and remove reach its containers).
 * The daemon's one place that knows every part; the parts themselves get only what they use.
 */
final class DaemonServices implements AutoCloseable {
    final ImageService images;
    final SandboxService sandboxes;
    final ContainerStore containerStore;
    final ContainerEvents events;
    final ContainerCreator creator;
    final ContainerLifecycle lifecycle;
    final ContainerStatusReader containerStatus;
    final ExecSyncRunner execSync;
    final ContainerStatsReader stats;
    final ContainerUpdater updater;
    final PodStatsReader podStats;
    final PodMetricsReader podMetrics;
    final HostFeatures host;
    final ContainerCheckpointer checkpointer;
    private SystemdUnits systemd; // with cgroup_driver = "systemd"
    private TreeDiscarder discarder; // removed containers' dirs, deleted in the background

    DaemonServices(DaemonConfig config, NativePrograms programs) throws DaemonStartException {
        try {
            DaemonConfig.Registry reg = config.registry();
            images = new ImageService(ImageServiceConfig.defaults(config.root())
                    .withMirrors(reg.mirrors())
                    .withInsecureRegistries(reg.insecure())
                    .withCaFiles(reg.caFiles())
                    .withMaxConcurrentDownloads(reg.maxConcurrentDownloads())
                    .withPinnedImages(reg.pinnedImages())
                    .withContainerRoot(config.root().resolve("containers"))
                    .withPlatform(reg.platform().isEmpty() ? Platform.current().toString() : reg.platform())
                    .withRequestTimeout(reg.requestTimeout())
                    .withMaxRetries(reg.maxRetries())
                    .withHostsDir(reg.configPath())
                    .withAuthFile(reg.authFile())
                    .withSignaturePolicy(reg.signaturePolicy())
                    .withProxyEnvironment(System.getenv()));
            containerStore = new ContainerStore(config.root());
            events = new ContainerEvents(config.eventSubscriberQueue());
            Cgroups cgroups = Cgroups.detect();
            // The systemd driver talks to systemd or the daemon does not start: no silent fallback to cgroupfs.
            if (config.cgroupDriver() == SandboxConfig.CgroupDriver.SYSTEMD) {
                try {
                    systemd = SystemdUnits.connect(config.systemdBus(), cgroups.v2());
                } catch (IOException e) {
                    throw new DaemonStartException("cgroup_driver = \"systemd\": " + e.getMessage(), e);
                }
            }
            ContainerScopes scopes = new ContainerScopes(systemd);

            DaemonConfig.Cni cni = config.cni();
            SandboxConfig sandboxConfig = SandboxConfig.defaults(config.state().resolve("pods"),
                            config.root().resolve("sandboxes"), programs.pause())
                    .withCniBinDirs(cni.binDirs())
                    .withCniNetworkName(cni.networkName())
                    .withCni(cni.confDir(), cni.defaultBridge(), cni.defaultSubnet())
                    .withDefaultNetwork(cni.defaultNetwork())
                    .withCgroups(config.cgroupDriver(), config.cgroupParent())
                    .withShmSizeBytes(config.podShmSizeBytes());
            sandboxes = new SandboxService(sandboxConfig, new PodContainersHook() {
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
            }, events::publishSandbox, systemd);
            sandboxes.setCniPluginTimeout(cni.pluginTimeout());

            // The containers' shim state dirs (sockets, exit records, exec process files): private, also after an older install.
            Path shimStateRoot = config.state().resolve("ctr");
            PrivateFiles.directory(shimStateRoot);
            host = HostFeatures.probe(programs, config.runtimes(), config.state(), config.root());
            SandboxPods pods = new SandboxPods(sandboxes.store());
            discarder = new TreeDiscarder(List.of(config.root().resolve("trash"), config.state().resolve("trash")));
            creator = new ContainerCreator(containerStore, images, pods,
                    new ShimLauncher(programs), cgroups, events, config.runtimes(), shimStateRoot, host, scopes);
            lifecycle = new ContainerLifecycle(containerStore, images, cgroups, events, pods, scopes, creator, discarder);
            creator.useCdiSpecDirs(config.cdiSpecDirs());
            containerStatus = new ContainerStatusReader(containerStore, host.security().selinuxEnforcing());
            execSync = new ExecSyncRunner(containerStore, new ExecRunner(programs));
            stats = new ContainerStatsReader(containerStore, cgroups);
            updater = new ContainerUpdater(containerStore, cgroups, scopes);
            podStats = new PodStatsReader(sandboxes.store(), cgroups, stats);
            podMetrics = new PodMetricsReader(podStats);
            checkpointer = new ContainerCheckpointer(containerStore, pods, cgroups, containerStatus, images,
                    CriuSupport.probe(config.criu()),
                    config.checkpointDir());

            // Set, not passed: the events carry the pods' statuses, and the pods publish their own events.
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
            sandboxes.recover();
            new ContainerRecovery(containerStore, lifecycle, pods, cgroups, images, shimStateRoot).recover();
            sandboxes.finishInterruptedRemovals();
            // Units a crash left behind (their pod or container has no record any more).
            Set<String> live = new HashSet<>();
            sandboxes.store().all().forEach(s -> live.add(s.id()));
            containerStore.list().forEach(r -> live.add(r.id()));
            scopes.removeOrphans(live);
        } catch (IOException | RuntimeException e) {
            if (discarder != null) {
                discarder.close();
            }
            if (systemd != null) {
                systemd.close();
            }
            throw new DaemonStartException("cannot open Coracle's state under " + config.root() + " and "
                    + config.state() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (discarder != null) {
            discarder.close();
        }
        images.close();
        if (systemd != null) {
            systemd.close();
        }
    }
}
