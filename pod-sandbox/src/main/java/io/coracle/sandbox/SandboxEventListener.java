package io.coracle.sandbox;

import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.PodSandboxStatus;

/**
 * Told of each pod sandbox lifecycle change, for the CRI's GetContainerEvents (where the sandbox id
 * stands as the container id): created and started by RunPodSandbox, stopped by StopPodSandbox (or
 * found dead at start-up), deleted by RemovePodSandbox. {@code status} is what a non-verbose
 * PodSandboxStatus returned at that moment (for a deleted pod: just before its record went).
 * Given to the {@link SandboxService} constructor; it may be called holding the pod's
 * lock, so it must not block.
 */
@FunctionalInterface
public interface SandboxEventListener {
    SandboxEventListener NONE = (type, status) -> { };

    void sandboxChanged(ContainerEventType type, PodSandboxStatus status);
}
