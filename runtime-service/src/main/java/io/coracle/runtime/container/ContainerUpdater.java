package io.coracle.runtime.container;

import io.coracle.cgroup.Cgroups;
import io.coracle.cri.CriError;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.oci.Linux;
import io.coracle.oci.OciJson;
import io.coracle.oci.Resources;
import io.coracle.oci.Spec;
import io.coracle.runtime.spec.InvalidContainerConfigException;
import io.coracle.runtime.spec.ResourceStep;
import io.coracle.runtime.spec.SpecDraft;
import io.coracle.shim.ShimClient;
import java.io.IOException;
import java.util.logging.Logger;

/** UpdateContainerResources (a live cgroup update, applied by the container's shim) and ReopenContainerLog (after the kubelet rotates the file). */
public final class ContainerUpdater {
    private static final Logger LOG = Logger.getLogger(ContainerUpdater.class.getName());

    private final ContainerStore store;
    private final Cgroups cgroups;
    private final ContainerScopes scopes;

    public ContainerUpdater(ContainerStore store, Cgroups cgroups, ContainerScopes scopes) {
        this.store = store;
        this.cgroups = cgroups;
        this.scopes = scopes;
    }

    public void updateResources(UpdateContainerResourcesRequest request) {
        if (request.getContainerId().isEmpty()) {
            throw new CriError(CriError.Kind.INVALID, "container_id is empty");
        }
        ContainerRecord found = store.find(request.getContainerId()).orElseThrow(() -> new CriError(
                CriError.Kind.NOT_FOUND, "container " + request.getContainerId() + " not found"));
        java.util.concurrent.locks.Lock processLock = store.processLock(found.id());
        processLock.lock(); // not while StartContainer's shim reads the bundle
        try {
            updateLocked(request, store.get(found.id()).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND,
                    "container " + found.id() + " not found (removed)")));
        } finally {
            processLock.unlock();
        }
    }

    private void updateLocked(UpdateContainerResourcesRequest request, ContainerRecord r) {
        ContainerStates s = ContainerStates.of(r, store);
        boolean unstarted = s.state() == ContainerState.CONTAINER_CREATED && s.shim().isEmpty();
        if (!unstarted && s.state() != ContainerState.CONTAINER_RUNNING) {
            throw new CriError(CriError.Kind.PRECONDITION, "container " + r.id() + " is not running: cannot update its"
                    + " resources");
        }
        LinuxContainerResources linux = request.getLinux();
        SpecDraft draft = new SpecDraft();
        try {
            ResourceStep.apply(linux, cgroups.v2(), draft);
        } catch (InvalidContainerConfigException e) {
            throw new CriError(CriError.Kind.INVALID, e.getMessage());
        }
        try {
            Resources limits = new Resources(draft.memory, draft.cpu, null,
                    draft.hugepageLimits.isEmpty() ? null : draft.hugepageLimits, null,
                    draft.unified.isEmpty() ? null : draft.unified);
            if (unstarted) {
                // No cgroup yet: the bundle's limits change, and the shim applies them at StartContainer.
                rewriteBundle(store.containerDir(r.id()).resolve("bundle").resolve("config.json"), limits);
                store.put(r.withResources(linux));
                LOG.info("container " + r.id() + " resources updated (applied when it starts)");
                return;
            }
            // systemd's properties first (a scope's), then the shim writes the cgroup files, with the
            // same code as at create: systemd's and those it has no property for.
            scopes.update(r.cgroupPath(), limits);
            new ShimClient(r.stateDir()).update(limits);
            store.put(r.withResources(linux));
        } catch (IOException e) {
            throw new CriError(CriError.Kind.INTERNAL, "update resources of container " + r.id() + ": " + e.getMessage());
        }
        LOG.info("container " + r.id() + " resources updated");
    }

    /** The bundle's linux.resources with {@code update}'s limits in place of the ones it names (as a live update). */
    private static void rewriteBundle(java.nio.file.Path config, Resources update) throws IOException {
        Spec spec = OciJson.read(config, Spec.class);
        Linux l = spec.linux();
        Resources old = l.resources() == null ? new Resources(null, null, null, null, null, null) : l.resources();
        java.util.Map<String, String> unified = old.unified() == null ? new java.util.TreeMap<>()
                : new java.util.TreeMap<>(old.unified());
        if (update.unified() != null) {
            unified.putAll(update.unified());
        }
        Resources merged = new Resources(update.memory() != null ? update.memory() : old.memory(),
                update.cpu() != null ? update.cpu() : old.cpu(), old.pids(),
                update.hugepageLimits() != null ? update.hugepageLimits() : old.hugepageLimits(), old.devices(),
                unified.isEmpty() ? null : unified);
        Linux linux = new Linux(l.namespaces(), l.cgroupsPath(), merged, l.sysctl(), l.seccomp(), l.maskedPaths(),
                l.readonlyPaths(), l.devices(), l.rootfsPropagation(), l.mountLabel(), l.uidMappings(), l.gidMappings());
        io.coracle.sys.PrivateFiles.write(config, OciJson.MAPPER.writeValueAsBytes(new Spec(spec.ociVersion(),
                spec.process(), spec.root(), spec.hostname(), spec.mounts(), spec.annotations(), linux, spec.hooks())),
                false);
    }

    public void reopenLog(String containerId) {
        ContainerRecord r = running(containerId, "reopen its log");
        try {
            new ShimClient(r.stateDir()).reopenLog();
        } catch (IOException e) {
            throw new CriError(CriError.Kind.INTERNAL, "reopen log of container " + r.id() + ": " + e.getMessage());
        }
    }

    private ContainerRecord running(String id, String what) {
        if (id.isEmpty()) {
            throw new CriError(CriError.Kind.INVALID, "container_id is empty");
        }
        ContainerRecord r = store.find(id).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND, "container " + id + " not found"));
        if (ContainerStates.of(r, store).state() != ContainerState.CONTAINER_RUNNING) {
            throw new CriError(CriError.Kind.PRECONDITION, "container " + r.id() + " is not running: cannot " + what);
        }
        return r;
    }
}
