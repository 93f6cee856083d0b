package io.coracle.sandbox;

import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.ListPodSandboxResponse;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PodSandboxStatusResponse;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RemovePodSandboxResponse;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxResponse;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxResponse;
import io.coracle.cri.v1.StreamPodSandboxesRequest;
import io.coracle.cri.v1.StreamPodSandboxesResponse;
import io.coracle.cri.v1.UpdatePodSandboxResourcesRequest;
import io.coracle.cri.v1.UpdatePodSandboxResourcesResponse;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.List;

/**
 * The pod sandbox module as the daemon sees it: one object per RPC family, recovery at start-up
 * and the NetworkReady condition. Each RPC method throws a {@link io.coracle.cri.CriError} the CRI edge maps to a status.
 */
public final class SandboxService {

    private final SandboxEnvironment env;
    private final SandboxRunner runner;
    private final SandboxStopper stopper;
    private final SandboxRemover remover;
    private final SandboxStatusReader statusReader;
    private final SandboxLister lister;
    private final SandboxRecovery recovery;
    private final SandboxResourceUpdater resourceUpdater;

    /** A service whose pods have no containers and whose events go nowhere. */
    public SandboxService(SandboxConfig config) throws IOException {
        this(config, PodContainersHook.NONE, SandboxEventListener.NONE);
    }

    /**
     * {@code containers}: the container code's hook into a pod's stop and remove; {@code events}: where
     * sandbox lifecycle events go (GetContainerEvents), {@link #recover} included.
     */
    public SandboxService(SandboxConfig config, PodContainersHook containers, SandboxEventListener events)
            throws IOException {
        this(config, containers, events, null);
    }

    /** With the systemd cgroup driver: {@code systemd} starts the pods' slices and pause scopes (null: cgroupfs). */
    public SandboxService(SandboxConfig config, PodContainersHook containers, SandboxEventListener events,
                          io.coracle.cgroup.systemd.SystemdUnits systemd) throws IOException {
        this.env = new SandboxEnvironment(config, java.util.Objects.requireNonNull(containers, "containers"),
                java.util.Objects.requireNonNull(events, "events"), systemd);
        this.runner = new SandboxRunner(env);
        this.stopper = new SandboxStopper(env);
        this.remover = new SandboxRemover(env, stopper);
        this.statusReader = new SandboxStatusReader(env);
        this.lister = new SandboxLister(env);
        this.recovery = new SandboxRecovery(env);
        this.resourceUpdater = new SandboxResourceUpdater(env);
    }

    /**
     * Start-up: creates the dirs, writes the default CNI config if the conf dir is empty, reloads every
     * sandbox from disk (a pod whose pause process is gone is NOTREADY; its network stays attached until
     * a CNI DEL succeeds) and undoes every RunPodSandbox a crash interrupted. See {@link SandboxRecovery}.
     */
    public List<Sandbox> recover() throws IOException {
        return recovery.recover();
    }

    /** Start-up, once the containers are recovered: finishes every RemovePodSandbox a crash interrupted. */
    public void finishInterruptedRemovals() {
        recovery.finishRemovals(remover);
    }

    /** The kubelet's pod CIDR for this node: the default network takes it for the pods that follow. */
    public boolean applyPodCidr(String cidr) throws IOException {
        return env.cniConfig.applyPodCidr(cidr);
    }

    /** How long one CNI plugin call may take before the plugin is killed and the call fails (default 120 s). */
    public void setCniPluginTimeout(java.time.Duration timeout) {
        env.cni.pluginTimeout = timeout;
    }

    /** The checks of CRI resources against this host, for the container RPCs to share. */
    public LinuxResourcesValidator resourcesValidator() {
        return env.validator.resources();
    }

    /**
     * Where the duration of every CNI ADD and DEL goes (metrics); null for none. A setter: the metrics
     * server is optional and starts after the services it observes, and detaches again if it cannot bind.
     */
    public void setCniTimings(CniTimings timings) {
        env.cni.timings = timings == null ? CniTimings.NONE : timings;
    }

    /** Read-only access to the sandboxes (namespace paths, cgroup parent, pod files, state). */
    public SandboxStore store() {
        return env.store;
    }

    public SandboxRunner runner() {
        return runner;
    }

    public SandboxStopper stopper() {
        return stopper;
    }

    public SandboxRemover remover() {
        return remover;
    }

    public SandboxStatusReader statusReader() {
        return statusReader;
    }

    public SandboxLister lister() {
        return lister;
    }

    public RunPodSandboxResponse run(RunPodSandboxRequest r) {
        return runner.run(r);
    }

    public StopPodSandboxResponse stop(StopPodSandboxRequest r) {
        return stopper.stop(r);
    }

    public RemovePodSandboxResponse remove(RemovePodSandboxRequest r) {
        return remover.remove(r);
    }

    public UpdatePodSandboxResourcesResponse updateResources(UpdatePodSandboxResourcesRequest r) {
        return resourceUpdater.update(r);
    }

    public PodSandboxStatusResponse status(PodSandboxStatusRequest r) {
        return statusReader.status(r);
    }

    public ListPodSandboxResponse list(ListPodSandboxRequest r) {
        return lister.list(r);
    }

    public void stream(StreamPodSandboxesRequest r, StreamObserver<StreamPodSandboxesResponse> out) {
        lister.stream(r, out);
    }

    /** NetworkReady: a CNI network config loads and all its plugins (and loopback) are installed. */
    public NetworkCondition networkReady() {
        CniConfigLoader.NetworkList net;
        try {
            net = env.cniConfig.load();
        } catch (IOException e) {
            return new NetworkCondition(false, "NetworkPluginNotReady", "cni config uninitialized: " + e.getMessage());
        }
        try {
            env.cniConfig.plugin("loopback");
            for (var p : net.plugins()) {
                env.cniConfig.plugin(p.get("type").asText());
            }
        } catch (IOException e) {
            return new NetworkCondition(false, "NetworkPluginNotReady", "network " + net.name() + ": " + e.getMessage());
        }
        return new NetworkCondition(true, "", "");
    }
}
