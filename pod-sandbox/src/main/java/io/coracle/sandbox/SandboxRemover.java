package io.coracle.sandbox;

import io.coracle.sys.FileTrees;
import io.coracle.sys.Mounts;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.PodSandboxStatus;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RemovePodSandboxResponse;
import io.coracle.cri.CriError;
import java.io.IOException;
import java.util.logging.Logger;

/**
 * RemovePodSandbox: stops the pod if needed, removes its containers (hook), /dev/shm, netns mount,
 * cgroups, files and record. Removing an unknown id succeeds.
 */
public final class SandboxRemover {
    private static final Logger LOG = Logger.getLogger(SandboxRemover.class.getName());

    private final SandboxEnvironment env;
    private final SandboxStopper stopper;

    SandboxRemover(SandboxEnvironment env, SandboxStopper stopper) {
        this.env = env;
        this.stopper = stopper;
    }

    public RemovePodSandboxResponse remove(RemovePodSandboxRequest request) {
        Sandbox found = env.store.find(request.getPodSandboxId()).orElse(null);
        if (found == null) {
            return RemovePodSandboxResponse.getDefaultInstance();
        }
        java.util.concurrent.locks.Lock lock = env.store.lock(found.id()).writeLock();
        lock.lock();
        try {
            long t0 = System.nanoTime();
            Sandbox s = env.store.get(found.id()).orElse(null);
            if (s == null) {
                return RemovePodSandboxResponse.getDefaultInstance();
            }
            // A crash from here on leaves the removal for the next start-up to finish.
            env.store.putIntent(new SandboxIntent(SandboxIntent.Op.REMOVE, s.id(), s.name(), s.namespace(), s.uid(),
                    s.podDir(), s.netnsPath(), s.cgroupParent(), s.pauseCgroup(), false, s.cgroupCreatedFrom(),
                    s.cniNetwork(), s.config()), true);
            if (s.ready() || s.networkAttached() || s.pause().alive()) {
                stopper.stopLocked(s.id());
                s = env.store.get(s.id()).orElseThrow();
            }
            StepTimer timer = new StepTimer();
            env.containers.removeContainers(s);
            PodFiles.unmountShm(s.podDir());
            if (s.netnsPath() != null) {
                Mounts.unmountAll(s.netnsPath());
            }
            timer.mark("unmount");
            env.cgroups.remove(new PodCgroup.Names(s.cgroupParent(), s.pauseCgroup()), s.cgroupCreatedFrom());
            timer.mark("cgroups");
            FileTrees.delete(s.podDir());
            timer.mark("files");
            PodSandboxStatus last = SandboxStatusReader.statusOf(s);
            env.store.delete(s);
            env.announce(ContainerEventType.CONTAINER_DELETED_EVENT, last);
            timer.mark("record");
            Sandbox done = s;
            LOG.info(() -> "sandbox " + SandboxEnvironment.podName(done) + ": removed in "
                    + (System.nanoTime() - t0) / 1_000_000 + " ms (" + timer + ")");
            return RemovePodSandboxResponse.getDefaultInstance();
        } catch (IOException e) {
            throw new CriError(CriError.Kind.UNKNOWN, "failed to remove sandbox " + found.id() + ": " + e.getMessage(), e);
        } finally {
            lock.unlock();
        }
    }
}
