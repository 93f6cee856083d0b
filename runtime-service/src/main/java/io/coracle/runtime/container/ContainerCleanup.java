package io.coracle.runtime.container;

import io.coracle.shim.ShimClient;
import io.coracle.shim.ShimException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** Ending a container's processes and deleting its directories, for remove and for undoing a failed create. */
final class ContainerCleanup {
    private ContainerCleanup() {
    }

    /**
     * SIGKILLs every process of the container through its shim and waits (bounded) for the exit record.
     * A shim that is gone (killed) cannot answer: what it left in the cgroup is the caller's to kill.
     */
    static void killAndReap(ShimClient shim, Duration timeout) throws IOException {
        if (shim.exitRecord().isPresent() || !Files.exists(shim.controlSocket())) {
            return;
        }
        try {
            shim.kill(Signals.SIGKILL, true);
            shim.awaitExit(timeout);
        } catch (ShimException e) {
            // The shim is gone or did not answer in time; the exit record may still have appeared.
        } catch (IOException e) {
            // No connection to the shim: it exited or was killed.
        }
    }

    /** Deletes a tree without following links or deleting through a mount point; absent is fine. */
    static void deleteTree(Path root) throws IOException {
        io.coracle.sys.FileTrees.delete(root);
    }
}
