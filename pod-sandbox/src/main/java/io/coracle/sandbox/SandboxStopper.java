package io.coracle.sandbox;

import io.coracle.sys.Mounts;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.PortMapping;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxResponse;
import io.coracle.cri.CriError;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.logging.Logger;

/**
 * StopPodSandbox: stops the pod's containers (hook), CNI DEL, kills the pause process; the netns
 * bind mount goes only once DEL has succeeded. Idempotent: a stopped pod stops again at no cost, and
 * stop of an unknown pod succeeds.
 */
public final class SandboxStopper {
    private static final Logger LOG = Logger.getLogger(SandboxStopper.class.getName());
    private static final long PAUSE_KILL_TIMEOUT_MS = 10_000;

    private final SandboxEnvironment env;

    SandboxStopper(SandboxEnvironment env) {
        this.env = env;
    }

    public StopPodSandboxResponse stop(StopPodSandboxRequest request) {
        if (request.getPodSandboxId().isEmpty()) {
            throw CriError.invalid("pod_sandbox_id: empty");
        }
        // The CRI asks stop of an unknown pod to succeed (containerd too): the kubelet retries stops of pods
        // that a restart or a remove already made go away.
        Sandbox s = env.store.find(request.getPodSandboxId()).orElse(null);
        if (s == null) {
            LOG.fine(() -> "sandbox " + request.getPodSandboxId() + ": stop of an unknown pod: nothing to do");
            return StopPodSandboxResponse.getDefaultInstance();
        }
        java.util.concurrent.locks.Lock lock = env.store.lock(s.id()).writeLock();
        lock.lock();
        try {
            stopLocked(s.id());
        } catch (IOException e) {
            throw new CriError(CriError.Kind.UNKNOWN, "failed to stop sandbox " + s.id() + ": " + e.getMessage(), e);
        } finally {
            lock.unlock();
        }
        return StopPodSandboxResponse.getDefaultInstance();
    }

    /** Stops the sandbox; the caller holds its lock. */
    void stopLocked(String id) throws IOException {
        Sandbox s = env.store.get(id).orElse(null);
        if (s == null) {
            return;
        }
        long t0 = System.nanoTime();
        StepTimer timer = new StepTimer();
        env.containers.stopContainers(s);
        PauseProcess pause = s.pause();
        // Killing pause and CNI DEL are independent (the netns mount keeps the namespace): overlap them.
        CompletableFuture<Void> kill = CompletableFuture.runAsync(() -> {
            try {
                pause.kill(PAUSE_KILL_TIMEOUT_MS);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, VirtualThreads.EXECUTOR);
        IOException delFailure = null;
        boolean detached = false;
        if (s.networkAttached()) {
            try {
                teardownNetwork(s);
                s = s.withNetworkDetached();
                detached = true;
            } catch (IOException e) {
                delFailure = e;
            }
        }
        timer.mark("cni");
        try {
            kill.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof java.io.UncheckedIOException u ? u.getCause() : new IOException(e.getCause());
        }
        if (!s.networkAttached() && s.netnsPath() != null) {
            Mounts.unmountAll(s.netnsPath());
            Files.deleteIfExists(s.netnsPath());
        }
        timer.mark("pause");
        boolean changed = s.ready() || detached;
        if (changed) {
            env.store.put(s.withState(Sandbox.State.NOTREADY), false);
        }
        if (s.ready()) {
            env.announce(ContainerEventType.CONTAINER_STOPPED_EVENT,
                    SandboxStatusReader.statusOf(s.withState(Sandbox.State.NOTREADY)));
        }
        timer.mark("record");
        if (delFailure != null) {
            throw new IOException("CNI DEL: " + delFailure.getMessage() + " (network namespace kept for a retry)", delFailure);
        }
        if (changed) {
            Sandbox done = s;
            LOG.info(() -> "sandbox " + SandboxEnvironment.podName(done) + ": stopped in "
                    + (System.nanoTime() - t0) / 1_000_000 + " ms (" + timer + ")");
        }
    }

    private void teardownNetwork(Sandbox s) throws IOException {
        CniConfigLoader.NetworkList net = CniConfigLoader.NetworkList.parse(Path.of("(stored)"), s.cniNetwork());
        List<PortMapping> ports = s.podConfig().getPortMappingsList().stream().filter(p -> p.getHostPort() > 0).toList();
        Path netns = s.netnsPath() != null && Mounts.mounted(s.netnsPath()) ? s.netnsPath() : null;
        env.cni.del(net, new CniNetwork.PodRef(s.id(), s.name(), s.namespace(), s.uid()), netns, ports, s.cniResult());
    }
}
