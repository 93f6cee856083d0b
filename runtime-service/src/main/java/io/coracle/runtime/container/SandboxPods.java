package io.coracle.runtime.container;

import io.coracle.runtime.spec.PodContext;
import io.coracle.sandbox.Sandbox;
import io.coracle.sandbox.SandboxStore;
import java.util.Optional;

/** The container code's view of pods, over the sandbox store. */
public record SandboxPods(SandboxStore sandboxes) implements PodLookup {

    @Override
    public Optional<PodContext> find(String podId) {
        return sandboxes.find(podId).map(SandboxPods::context);
    }

    @Override
    public boolean ready(String podId) {
        return sandboxes.find(podId).map(Sandbox::ready).orElse(false);
    }

    @Override
    public java.util.concurrent.locks.Lock sharedLock(String podId) {
        return sandboxes.sharedLock(podId);
    }

    @Override
    public java.util.List<PodContext> all() {
        return sandboxes.all().stream().map(SandboxPods::context).toList();
    }

    static PodContext context(Sandbox s) {
        String hostname = s.podConfig().getHostname();
        return new PodContext(s.id(), hostname, s.namespacePath("net"), s.namespacePath("ipc"),
                s.namespacePath("uts"), s.namespacePath("pid"), s.pidMode() == Sandbox.PidMode.NODE,
                s.cgroupParent(), s.resolvConf(), s.hostsFile(), s.hostnameFile(), s.shmDir(),
                s.logDirectory() == null ? "" : s.logDirectory(),
                s.runtimeHandler() == null ? "" : s.runtimeHandler(), s.pauseCgroup(),
                s.userNamespace() == null ? null : java.nio.file.Path.of("/proc", String.valueOf(s.pausePid()), "ns", "user"),
                s.userNamespace());
    }
}
