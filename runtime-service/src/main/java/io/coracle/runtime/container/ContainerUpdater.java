package io.coracle.runtime.container;

import io.coracle.cgroup.Cgroups;
import io.coracle.cri.CriError;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.oci.Resources;
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
        ContainerRecord r = running(request.getContainerId(), "update its resources");
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
        if (ContainerStates.of(r).state() != ContainerState.CONTAINER_RUNNING) {
            throw new CriError(CriError.Kind.PRECONDITION, "container " + r.id() + " is not running: cannot " + what);
        }
        return r;
    }
}
