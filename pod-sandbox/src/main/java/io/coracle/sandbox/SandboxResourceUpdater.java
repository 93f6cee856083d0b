package io.coracle.sandbox;

import io.coracle.cri.CriError;
import io.coracle.cri.v1.UpdatePodSandboxResourcesRequest;
import io.coracle.cri.v1.UpdatePodSandboxResourcesResponse;
import io.coracle.oci.Resources;
import java.io.IOException;
import java.util.logging.Logger;

/**
 * UpdatePodSandboxResources (in-place pod resize): the pod cgroup's limits (resources plus overhead,
 * as at RunPodSandbox) rewritten live by the shim's cgroup code, all or nothing. The ranges are the
 * ones UpdateContainerResources checks; a memory limit below what the pod uses now is refused before
 * anything is written (v1 would refuse it with EBUSY, v2 would OOM-kill the pod's processes).
 * containerd 2.x only hands the request to NRI plugins and records it; its kubelet writes the pod cgroup.
 */
public final class SandboxResourceUpdater {
    private static final Logger LOG = Logger.getLogger(SandboxResourceUpdater.class.getName());

    private final SandboxEnvironment env;

    SandboxResourceUpdater(SandboxEnvironment env) {
        this.env = env;
    }

    public UpdatePodSandboxResourcesResponse update(UpdatePodSandboxResourcesRequest r) {
        RequestChecks.id("pod_sandbox_id", r.getPodSandboxId());
        LinuxResourcesValidator check = env.validator.resources();
        if (r.hasResources()) {
            check.check("resources", r.getResources());
        }
        if (r.hasOverhead()) {
            check.check("overhead", r.getOverhead());
        }
        Sandbox s = env.store.find(r.getPodSandboxId())
                .orElseThrow(() -> CriError.notFound("sandbox " + r.getPodSandboxId() + " not found"));
        String pod = s.cgroupParent();
        if (!env.cgroups.exists(pod)) {
            throw CriError.precondition("sandbox " + s.id() + " has no pod cgroup " + pod + " (removed?): cannot update its resources");
        }
        Resources want = PodCgroup.podResources(r.hasResources() ? r.getResources() : null,
                r.hasOverhead() ? r.getOverhead() : null);
        if (want == null) {
            return UpdatePodSandboxResourcesResponse.getDefaultInstance();
        }
        try {
            if (want.memory() != null && want.memory().limit() != null) {
                long usage = env.cgroups.memoryUsage(pod);
                if (want.memory().limit() < usage) {
                    throw CriError.precondition("sandbox " + s.id() + ": memory limit " + want.memory().limit()
                            + " bytes (resources plus overhead) is below the pod's current usage " + usage
                            + " bytes; the limits stay as they were");
                }
            }
            env.cgroups.update(pod, want);
        } catch (IOException | IllegalArgumentException e) {
            throw new CriError(CriError.Kind.INTERNAL, "update resources of sandbox " + s.id() + " (cgroup " + pod
                    + "): " + e.getMessage() + "; the limits stay as they were", e);
        }
        LOG.info(() -> "sandbox " + SandboxEnvironment.podName(s) + ": pod cgroup limits updated");
        return UpdatePodSandboxResourcesResponse.getDefaultInstance();
    }
}
