package io.coracle.runtime.container;

import io.coracle.runtime.spec.PodContext;
import java.util.Optional;

/** What the container code needs to know about pods (implemented over the sandbox store). */
public interface PodLookup {
    /** The pod's context, when the pod exists. */
    Optional<PodContext> find(String podId);

    /** Whether the pod exists and is ready (its pause process and namespaces are up). */
    boolean ready(String podId);
}
