package io.coracle.sandbox;

import java.io.IOException;

/**
 * What the container code does for a pod when the pod stops or goes away, given to
 * the {@link SandboxService} constructor; the default does nothing (no containers yet).
 */
public interface PodContainersHook {
    /** Stops every container of the pod (the pause process is still running). */
    void stopContainers(Sandbox sandbox) throws IOException;

    /** Removes every container of the pod (all stopped already). */
    void removeContainers(Sandbox sandbox) throws IOException;

    PodContainersHook NONE = new PodContainersHook() {
        @Override
        public void stopContainers(Sandbox sandbox) {}

        @Override
        public void removeContainers(Sandbox sandbox) {}
    };
}
