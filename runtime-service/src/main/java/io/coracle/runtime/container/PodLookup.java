package io.coracle.runtime.container;

import io.coracle.runtime.spec.PodContext;
import java.util.Optional;

/** What the container code needs to know about pods (implemented over the sandbox store). */
public interface PodLookup {
    /** The pod's context, when the pod exists. */
    Optional<PodContext> find(String podId);

    /** Whether the pod exists and is ready (its pause process and namespaces are up). */
    boolean ready(String podId);

    /**
     * The pod's lock, shared side: held by a container create or start, so that the pod is neither
     * stopped nor removed meanwhile. Whoever takes it checks the pod again once it has it.
     */
    java.util.concurrent.locks.Lock sharedLock(String podId);

    /** Every pod's context (recovery: where a container's cgroup may be). */
    java.util.List<PodContext> all();
}
