package io.coracle.runtime.container;

import io.coracle.cri.v1.ContainerState;
import java.io.IOException;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * Start-up: rebuilds the container store from disk and the live shims. A container directory
 * without a record is a create that never finished and is deleted; running containers get their
 * exit watchers back; the ones that exited meanwhile keep the exit record their shim wrote, and
 * their stopped event goes out now (held for the first GetContainerEvents subscriber).
 */
public final class ContainerRecovery {
    private static final Logger LOG = Logger.getLogger(ContainerRecovery.class.getName());

    private final ContainerStore store;
    private final ContainerLifecycle lifecycle;

    public ContainerRecovery(ContainerStore store, ContainerLifecycle lifecycle) {
        this.store = store;
        this.lifecycle = lifecycle;
    }

    public void recover() throws IOException {
        for (Path orphan : store.load()) {
            LOG.info("removing half-created container directory " + orphan);
            ContainerCleanup.deleteTree(orphan);
        }
        int running = 0;
        for (ContainerRecord r : store.list()) {
            ContainerState state = ContainerStates.of(r).state();
            if (state == ContainerState.CONTAINER_RUNNING) {
                lifecycle.watchExit(r);
                running++;
            } else if (state == ContainerState.CONTAINER_EXITED) {
                lifecycle.reportExit(r); // exited while the daemon was down: its stopped event is still due
            }
        }
        LOG.info("containers recovered: " + store.list().size() + " (" + running + " running)");
    }
}
