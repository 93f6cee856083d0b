package io.coracle.runtime.container;

import io.coracle.cgroup.Cgroups;
import io.coracle.image.ImageService;
import io.coracle.shim.ShimClient;
import io.coracle.shim.ShimException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.logging.Logger;

/** Ending a container's processes and deleting what it has, for remove, for undoing a failed create and for recovery. */
final class ContainerCleanup {
    private static final Logger LOG = Logger.getLogger(ContainerCleanup.class.getName());
    static final Duration KILL_WAIT = Duration.ofSeconds(10);

    private ContainerCleanup() {
    }

    /**
     * SIGKILLs every process of the container through its shim and waits (bounded) for the exit record.
     * A shim that is gone (killed) cannot answer: what it left in the cgroup is the caller's to kill.
     */
    static void killAndReap(ShimClient shim, Duration timeout) throws IOException {
        if (!Files.exists(shim.controlSocket())) {
            return;
        }
        try {
            if (shim.exitRecord().isEmpty()) {
                shim.kill(Signals.SIGKILL, true);
                shim.awaitExit(timeout);
            }
        } catch (ShimException e) {
            // The shim is gone or did not answer in time; the exit record may still have appeared.
        } catch (IOException e) {
            // No connection to the shim: it exited or was killed.
        }
        // A shim that just wrote exit.json still writes state.json and unlinks its sockets: a state dir
        // deleted meanwhile failed the removal (NoSuchFile, DirectoryNotEmpty: RemoveContainer racing a start).
        shim.awaitFinished(timeout);
    }

    /**
     * Kills what is left in the container's cgroup: processes of a container whose shim was killed (its
     * exit then goes unrecorded), or of a create a crash interrupted, so that no process stays behind.
     */
    static void killLeftovers(Cgroups cgroups, String cgroupPath, String id) throws IOException {
        if (!cgroups.exists(cgroupPath)) {
            return;
        }
        long deadline = System.nanoTime() + KILL_WAIT.toNanos();
        List<Integer> pids = cgroups.pids(cgroupPath);
        if (!pids.isEmpty()) {
            LOG.warning("container " + id + ": killing " + pids.size() + " process(es) its shim left behind");
        }
        while (!pids.isEmpty()) {
            for (int pid : pids) {
                io.coracle.sys.Syscalls.kill(pid, Signals.SIGKILL);
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("processes " + pids + " of container " + id + " survive SIGKILL");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while killing the processes of container " + id, e);
            }
            pids = cgroups.pids(cgroupPath);
        }
    }

    /**
     * Undoes whatever part of a create happened (absent parts are fine): the shim and every process in
     * the cgroup killed, the cgroup, the shim's state dir and the image lease removed; the container dir
     * (with the intent) goes last, so an interrupted undo is found again at the next start-up. A null
     * cgroup path: not known.
     */
    static void undoCreate(ContainerIntent in, Path containerDir, Cgroups cgroups, ImageService images)
            throws IOException {
        undoProcess(in, cgroups);
        images.release(in.id());
        deleteTree(containerDir);
    }

    /**
     * Undoes what a shim's creation of the process made (absent parts are fine): the shim and every
     * process in the cgroup killed, the cgroup, the shim's state dir and a runtime handler's rootfs
     * mount point removed. The container's own directory stays.
     */
    static void undoProcess(ContainerIntent in, Cgroups cgroups) throws IOException {
        killAndReap(new ShimClient(in.stateDir()), KILL_WAIT);
        if (in.cgroupPath() != null) {
            killLeftovers(cgroups, in.cgroupPath(), in.id());
            cgroups.remove(in.cgroupPath());
        }
        deleteTree(in.stateDir());
        // A runtime handler's rootfs mount point (user namespaces): empty on the host, never deleted through.
        try {
            java.nio.file.Files.deleteIfExists(ContainerCreator.runtimeRootfs(in.stateDir()));
        } catch (java.nio.file.DirectoryNotEmptyException notOurs) {
            LOG.warning("container " + in.id() + ": " + notOurs.getFile() + " is not empty: left as it is");
        }
    }

    /** Deletes a tree without following links or deleting through a mount point; absent is fine. */
    static void deleteTree(Path root) throws IOException {
        io.coracle.sys.FileTrees.delete(root);
    }
}
