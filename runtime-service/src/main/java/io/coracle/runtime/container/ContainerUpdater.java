package io.coracle.runtime.container;

import io.coracle.cgroup.Cgroups;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.oci.Resources;
import io.coracle.runtime.spec.InvalidContainerConfigException;
import io.coracle.runtime.spec.ResourceStep;
import io.coracle.runtime.spec.SpecDraft;
import io.coracle.shim.ShimClient;
import io.grpc.Status;
import io.grpc.StatusException;
import java.io.IOException;
import java.util.logging.Logger;

/** UpdateContainerResources (a live cgroup update, applied by the container's shim) and ReopenContainerLog (after the kubelet rotates the file). */
public final class ContainerUpdater {
    private static final Logger LOG = Logger.getLogger(ContainerUpdater.class.getName());

    private final ContainerStore store;
    private final Cgroups cgroups;

    public ContainerUpdater(ContainerStore store, Cgroups cgroups) {
        this.store = store;
        this.cgroups = cgroups;
    }

    public void updateResources(UpdateContainerResourcesRequest request) throws StatusException {
        ContainerRecord r = running(request.getContainerId(), "update its resources");
        LinuxContainerResources linux = request.getLinux();
        SpecDraft draft = new SpecDraft();
        try {
            ResourceStep.apply(linux, cgroups.v2(), draft);
        } catch (InvalidContainerConfigException e) {
            throw Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asException();
        }
        try {
            // The shim writes the cgroup files, with the same code as at create.
            new ShimClient(r.stateDir()).update(new Resources(draft.memory, draft.cpu, null,
                    draft.hugepageLimits.isEmpty() ? null : draft.hugepageLimits, null,
                    draft.unified.isEmpty() ? null : draft.unified));
            store.put(r.withResources(linux));
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("update resources of container " + r.id() + ": " + e.getMessage())
                    .asException();
        }
        LOG.info("container " + r.id() + " resources updated");
    }

    public void reopenLog(String containerId) throws StatusException {
        ContainerRecord r = running(containerId, "reopen its log");
        try {
            new ShimClient(r.stateDir()).reopenLog();
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("reopen log of container " + r.id() + ": " + e.getMessage())
                    .asException();
        }
    }

    private ContainerRecord running(String id, String what) throws StatusException {
        if (id.isEmpty()) {
            throw Status.INVALID_ARGUMENT.withDescription("container_id is empty").asException();
        }
        ContainerRecord r = store.find(id).orElseThrow(() -> Status.NOT_FOUND
                .withDescription("container " + id + " not found").asException());
        if (ContainerStates.of(r).state() != ContainerState.CONTAINER_RUNNING) {
            throw Status.FAILED_PRECONDITION.withDescription("container " + r.id() + " is not running: cannot " + what)
                    .asException();
        }
        return r;
    }
}
