package io.coracle.runtime.container;

import io.coracle.cgroup.Cgroups;
import io.coracle.cri.CriError;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.ContainerState;
import io.coracle.image.ImageService;
import io.coracle.shim.ExitRecord;
import io.coracle.shim.ShimClient;
import io.coracle.shim.ShimStateFile;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * StartContainer, StopContainer and RemoveContainer, and the watchers that notice a container's
 * exit (one virtual thread per running container, blocked on its shim's wait).
 */
public final class ContainerLifecycle {
    private static final Logger LOG = Logger.getLogger(ContainerLifecycle.class.getName());
    private static final Duration KILL_WAIT = ContainerCleanup.KILL_WAIT;

    /** Marks, in a container's state dir, that its stopped event was published. */
    static final String EXIT_REPORTED = "exit-reported";

    private final ContainerStore store;
    private final ImageService images;
    private final Cgroups cgroups;
    private final ContainerEvents events;
    private final PodLookup pods;
    private final Object[] exitLocks = new Object[64];
    private final ContainerScopes scopes;
    private final io.coracle.sys.TreeDiscarder discarder;

    private final ContainerCreator creator;

    public ContainerLifecycle(ContainerStore store, ImageService images, Cgroups cgroups, ContainerEvents events,
                              PodLookup pods, ContainerScopes scopes, ContainerCreator creator,
                              io.coracle.sys.TreeDiscarder discarder) {
        this.scopes = scopes;
        this.creator = creator;
        this.discarder = discarder;
        this.store = store;
        this.pods = pods;
        this.images = images;
        this.cgroups = cgroups;
        this.events = events;
        for (int i = 0; i < exitLocks.length; i++) {
            exitLocks[i] = new Object();
        }
    }

    ContainerScopes scopes() {
        return scopes;
    }

    /** Starts the container with its pod held against stop and removal, and only in a ready pod. */
    public void start(String containerId) {
        ContainerRecord r = find(containerId);
        java.util.concurrent.locks.Lock podLock = pods.sharedLock(r.podId());
        podLock.lock();
        try {
            if (!pods.ready(r.podId())) {
                throw new CriError(CriError.Kind.PRECONDITION, "pod sandbox " + r.podId() + " of container " + r.id()
                        + " is not ready (stopped or removed): the container cannot be started");
            }
            java.util.concurrent.locks.Lock processLock = store.processLock(r.id());
            processLock.lock();
            try {
                startLocked(store.get(r.id()).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND,
                        "container " + containerId + " not found (removed)")));
            } finally {
                processLock.unlock();
            }
        } finally {
            podLock.unlock();
        }
    }

    private void startLocked(ContainerRecord r) {
        ContainerStates s = ContainerStates.of(r, store);
        if (s.state() != ContainerState.CONTAINER_CREATED) {
            throw new CriError(CriError.Kind.PRECONDITION, "container " + r.id() + " is "
                    + stateName(s.state()) + ", not created: it cannot be started");
        }
        OciHooks.Plan hooks = OciHooks.load(store.containerDir(r.id()));
        Path bundle = store.containerDir(r.id()).resolve("bundle");
        // Never started: its shim creates the process now (a failure leaves it EXITED, StartError).
        int pid = s.shim().isEmpty() ? creator.createProcess(r, hooks) : s.shim().get().pid();
        try {
            OciHooks.run(hooks, r.id(), pid, bundle, "created", "startContainer");
            if (Files.exists(store.containerDir(r.id()).resolve(ContainerCheckpointer.RESTORE_DIR))) {
                new ShimClient(r.stateDir()).start(ContainerCheckpointer.RESTORE_TIMEOUT); // criu restore runs now
            } else {
                new ShimClient(r.stateDir()).start();
            }
        } catch (IOException e) {
            // A RemoveContainer (or a kill) that got to the shim first: the container is gone or exited.
            if (store.find(r.id()).isEmpty()) {
                throw new CriError(CriError.Kind.NOT_FOUND, "container " + r.id() + " not found (removed)");
            }
            String m = String.valueOf(e.getMessage());
            boolean shimGone = e instanceof io.coracle.shim.ShimGoneException
                    && ContainerStates.of(r, store).state() != ContainerState.CONTAINER_CREATED;
            if (shimGone || m.contains("the container has exited") || m.contains("the container is stopped")) {
                throw new CriError(CriError.Kind.PRECONDITION, "container " + r.id() + " is exited (killed or removed"
                        + " meanwhile), not created: it cannot be started");
            }
            throw new CriError(CriError.Kind.INTERNAL, "start container " + r.id() + ": " + e.getMessage()
                    + ContainerCheckpointer.restoreFailure(store.containerDir(r.id())));
        }
        OciHooks.runLogged(hooks, r.id(), pid, bundle, "running", "poststart");
        LOG.info("container " + r.id() + " started (pod " + r.podId() + ")");
        events.publish(r.id(), r.podId(), ContainerEventType.CONTAINER_STARTED_EVENT);
        watchExit(r);
    }

    /** Watches a started container until it exits, then publishes the stopped event. */
    public void watchExit(ContainerRecord r) {
        Thread.ofVirtual().name("exit-watch-" + r.id().substring(0, 12)).start(() -> {
            ShimClient shim = new ShimClient(r.stateDir());
            try {
                Optional<ExitRecord> exit = Optional.empty();
                while (exit.isEmpty() && store.get(r.id()).isPresent()) {
                    exit = shim.awaitExit(Duration.ofMinutes(10));
                }
                exit.ifPresent(e -> {
                    LOG.info("container " + r.id() + " exited: code=" + e.exitCode()
                            + (e.oomKilled() ? " (OOM-killed)" : ""));
                    reportExit(r);
                });
            } catch (IOException e) {
                LOG.fine("container " + r.id() + ": exit watch ended: " + e.getMessage());
                if (!reclaimAfterShimDeath(r)) {
                    reportExit(r);
                }
            }
        });
    }

    /** Marks, in a container's state dir, that its shim died and the daemon wrote the exit record. */
    static final String SHIM_DIED = "shim-died";

    /**
     * A container whose shim died without an exit record (SIGKILLed): whatever is left in its cgroup is
     * killed and the exit is recorded in the shim's place (137, SIGKILL) with a marker its status
     * reports; its stopped event goes out. Whether it was such a container.
     */
    boolean reclaimAfterShimDeath(ContainerRecord r) {
        synchronized (exitLock(r.id())) {
            ContainerStates s = ContainerStates.of(r, store);
            if (s.state() != ContainerState.CONTAINER_UNKNOWN || s.shim().isEmpty() || !Files.isDirectory(r.stateDir())) {
                return false;
            }
            ShimStateFile shim = s.shim().get();
            try {
                ContainerCleanup.killLeftovers(cgroups, r.cgroupPath(), r.id());
                io.coracle.sys.PrivateFiles.write(r.stateDir().resolve(SHIM_DIED), new byte[0], false);
                io.coracle.sys.PrivateFiles.write(r.stateDir().resolve("exit.json"), io.coracle.oci.OciJson.MAPPER
                        .writeValueAsBytes(new ExitRecord(shim.pid(), 128 + Signals.SIGKILL, Signals.SIGKILL, false,
                                shim.createdAt(), shim.startedAt(), System.currentTimeMillis() * 1_000_000L)), false);
            } catch (IOException e) {
                LOG.warning("container " + r.id() + ": its shim " + shim.shimPid() + " died; cannot reclaim it: "
                        + e.getMessage());
                return false;
            }
            LOG.warning("container " + r.id() + ": its shim " + shim.shimPid() + " died without recording the exit;"
                    + " the container's processes were killed and it is reported exited (137)");
        }
        reportExit(r);
        return true;
    }

    /**
     * Publishes the container's stopped event once for its exit, whoever notices the exit first: its
     * watcher, StopContainer, RemoveContainer, or recovery after the daemon was down. A marker file in
     * its state dir records that the event went out, across restarts; the per-container lock keeps
     * the caller until it is out, so a stopped event always precedes the container's deleted event.
     * Nothing for a container that never started or is not exited.
     */
    void reportExit(ContainerRecord r) {
        synchronized (exitLock(r.id())) {
            ContainerStates s = ContainerStates.of(r, store);
            if (s.state() != ContainerState.CONTAINER_EXITED || s.exit().map(e -> e.startedAt() <= 0).orElse(true)) {
                return;
            }
            try {
                Files.createFile(r.stateDir().resolve(EXIT_REPORTED),
                        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (FileAlreadyExistsException | NoSuchFileException e) {
                return; // reported already, or removed
            } catch (IOException e) {
                LOG.warning("container " + r.id() + ": cannot record that its exit was reported: " + e.getMessage());
                // publish anyway: a repeated stopped event is harmless, a missing one is not
            }
            events.publish(r.id(), r.podId(), ContainerEventType.CONTAINER_STOPPED_EVENT);
        }
    }

    private Object exitLock(String containerId) {
        return exitLocks[Math.floorMod(containerId.hashCode(), exitLocks.length)];
    }

    /**
     * Sends the stop signal, then SIGKILL once {@code timeoutSeconds} pass; stopping a stopped or an
     * unknown container is fine (the CRI asks stop to be idempotent, as containerd does). Returns once
     * the container's stopped event is out.
     */
    public void stop(String containerId, long timeoutSeconds) {
        if (containerId.isEmpty()) {
            throw new CriError(CriError.Kind.INVALID, "container_id: empty");
        }
        Optional<ContainerRecord> found = store.find(containerId);
        if (found.isEmpty()) {
            LOG.fine(() -> "container " + containerId + ": stop of an unknown container: nothing to do");
            return;
        }
        ContainerRecord r = found.get();
        try {
            signalAndAwait(r, timeoutSeconds);
        } finally {
            reportExit(r);
        }
    }

    private void signalAndAwait(ContainerRecord r, long timeoutSeconds) {
        ShimClient shim = new ShimClient(r.stateDir());
        ContainerStates s = ContainerStates.of(r, store);
        if (s.state() == ContainerState.CONTAINER_EXITED || s.state() == ContainerState.CONTAINER_UNKNOWN
                || s.shim().isEmpty()) {
            return; // exited, gone, or never started (no process: it stays created, as in containerd)
        }
        try {
            if (s.state() == ContainerState.CONTAINER_RUNNING && timeoutSeconds > 0) {
                int signal = Signals.parse(r.stopSignal());
                shim.kill(signal > 0 ? signal : Signals.SIGTERM, false);
                if (shim.awaitExit(Duration.ofSeconds(timeoutSeconds)).isPresent()) {
                    LOG.info("container " + r.id() + " stopped by " + r.stopSignal());
                    return;
                }
                LOG.info("container " + r.id() + " ignored " + r.stopSignal() + " for " + timeoutSeconds
                        + "s; killing it");
            }
            shim.kill(Signals.SIGKILL, true);
            if (shim.awaitExit(KILL_WAIT).isEmpty()) {
                throw new CriError(CriError.Kind.INTERNAL, "container " + r.id() + " did not exit within "
                        + KILL_WAIT.toSeconds() + "s of SIGKILL");
            }
            LOG.info("container " + r.id() + " killed");
        } catch (IOException e) {
            if (ContainerStates.of(r, store).state() == ContainerState.CONTAINER_EXITED) {
                return; // it exited while we were signalling
            }
            throw new CriError(CriError.Kind.INTERNAL, "stop container " + r.id() + ": " + e.getMessage());
        }
    }

    /** Force-stops and deletes everything of the container; removing an unknown container is fine. */
    public void remove(String containerId) {
        Optional<ContainerRecord> found = store.find(containerId);
        if (found.isEmpty()) {
            return;
        }
        ContainerRecord r = found.get();
        long[] t = new long[6];
        java.util.concurrent.locks.Lock processLock = store.processLock(r.id());
        processLock.lock(); // a StartContainer making the process finishes first
        try {
            // The record goes last: a crash before leaves the container listed, and a repeated remove finishes.
            t[0] = System.nanoTime();
            ContainerCleanup.killAndReap(new ShimClient(r.stateDir()), KILL_WAIT);
            reportExit(r);
            OciHooks.runLogged(OciHooks.load(store.containerDir(r.id())), r.id(), 0,
                    store.containerDir(r.id()).resolve("bundle"), "stopped", "poststop");
            t[1] = System.nanoTime();
            ContainerCleanup.killLeftovers(cgroups, r.cgroupPath(), r.id());
            // A shim that was busy (a criu restore, killed just now with the cgroup) finishes before its dir goes.
            new ShimClient(r.stateDir()).awaitFinished(KILL_WAIT);
            scopes.stop(r.cgroupPath());
            cgroups.remove(r.cgroupPath());
            t[2] = System.nanoTime();
            images.release(r.id());
            t[3] = System.nanoTime();
            // Under the exit lock: a watcher reporting the exit now finds no state dir for its marker. Both
            // dirs are renamed away at once and deleted in the background (the upperdir can be large).
            synchronized (exitLock(r.id())) {
                discarder.discard(r.stateDir());
                store.delete(r);
            }
            t[4] = System.nanoTime();
            discarder.discard(store.containerDir(r.id()));
            t[5] = System.nanoTime();
        } catch (IOException | RuntimeException e) {
            throw new CriError(CriError.Kind.INTERNAL, "remove container " + r.id() + ": " + e.getMessage());
        } finally {
            processLock.unlock();
        }
        LOG.info("container " + r.id() + " removed");
        LOG.fine(String.format("container %s remove took %.1fms: shim %.1f, cgroups %.1f, image lease %.1f,"
                + " state dir and record %.1f, container dir %.1f", r.id(), (t[5] - t[0]) / 1e6, (t[1] - t[0]) / 1e6,
                (t[2] - t[1]) / 1e6, (t[3] - t[2]) / 1e6, (t[4] - t[3]) / 1e6, (t[5] - t[4]) / 1e6));
        events.publish(r.id(), r.podId(), ContainerEventType.CONTAINER_DELETED_EVENT);
    }

    /** Stops every container of a pod (the sandbox calls this before it tears the pod down). */
    public void stopAllInPod(String podId, long timeoutSeconds) {
        for (ContainerRecord r : store.list()) {
            if (r.podId().equals(podId)) {
                stop(r.id(), timeoutSeconds);
            }
        }
    }

    public void removeAllInPod(String podId) {
        for (ContainerRecord r : store.list()) {
            if (r.podId().equals(podId)) {
                remove(r.id());
            }
        }
    }

    private ContainerRecord find(String id) {
        if (id.isEmpty()) {
            throw new CriError(CriError.Kind.INVALID, "container_id is empty");
        }
        return store.find(id).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND, "container " + id + " not found"));
    }

    static String stateName(ContainerState s) {
        return switch (s) {
            case CONTAINER_CREATED -> "created";
            case CONTAINER_RUNNING -> "running";
            case CONTAINER_EXITED -> "exited";
            default -> "in an unknown state";
        };
    }
}
