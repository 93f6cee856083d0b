package io.coracle.runtime.spec;

import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.oci.Linux;
import java.util.List;

/**
 * The namespaces: a new mount namespace always; the pod's network, IPC and UTS joined (the host's
 * when the pod uses them); PID per the container's mode: the pod's, a new one, the host's, or that of
 * another container of the pod (TARGET, as {@code kubectl debug --target}); a new
 * cgroup namespace on cgroup v2 unless privileged; the pod's user namespace, when it has one.
 */
public final class NamespaceStep implements SpecStep {

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        PodContext pod = in.pod();
        NamespaceOption ns = in.config().getLinux().getSecurityContext().getNamespaceOptions();
        spec.namespaces.add(new Linux.Namespace("mount", null));
        if (pod.netns() != null) {
            spec.namespaces.add(new Linux.Namespace("network", pod.netns().toString()));
        }
        if (pod.ipcns() != null) {
            spec.namespaces.add(new Linux.Namespace("ipc", pod.ipcns().toString()));
        }
        if (pod.utsns() != null) {
            spec.namespaces.add(new Linux.Namespace("uts", pod.utsns().toString()));
        }
        switch (ns.getPid()) {
            case POD -> {
                if (pod.pidns() != null) {
                    spec.namespaces.add(new Linux.Namespace("pid", pod.pidns().toString()));
                } else if (!pod.hostPid()) {
                    spec.namespaces.add(new Linux.Namespace("pid", null)); // the pod shares none: one per container
                }
            }
            case CONTAINER -> spec.namespaces.add(new Linux.Namespace("pid", null));
            case NODE -> { }
            case TARGET -> {
                // The target container's namespace, resolved (same pod, running) by the creator.
                if (in.refs().targetPidns() == null) {
                    throw new InvalidContainerConfigException("namespace_options.pid TARGET: target_id "
                            + ns.getTargetId() + " was not resolved");
                }
                spec.namespaces.add(new Linux.Namespace("pid", in.refs().targetPidns().toString()));
            }
            default -> throw new InvalidContainerConfigException("namespace_options.pid: unknown mode " + ns.getPidValue());
        }
        // containerd's CRI default: a private cgroup namespace on cgroup v2, so /sys/fs/cgroup shows the
        // container's own cgroup; the host's for privileged containers and on v1 (as the peers do).
        if (in.cgroupV2() && !in.config().getLinux().getSecurityContext().getPrivileged()) {
            spec.namespaces.add(new Linux.Namespace("cgroup", null));
        }
        userNamespace(in, pod, ns, spec);
        if (ns.getNetwork() == NamespaceMode.UNRECOGNIZED || ns.getIpc() == NamespaceMode.UNRECOGNIZED) {
            throw new InvalidContainerConfigException("namespace_options: unknown network or ipc mode");
        }
    }

    /**
     * A pod with a user namespace: every container joins it (its maps go in the spec; the shim checks
     * them against the namespace joined; runc needs them even when it joins one by path). A container's userns_options must be its pod's when given,
     * as containerd 2.x requires; one without them still joins the pod's (it can never leave it).
     */
    private static void userNamespace(ContainerSpecInput in, PodContext pod, NamespaceOption ns, SpecDraft spec)
            throws InvalidContainerConfigException {
        io.coracle.sandbox.PodUserNamespace userns = pod.usernsMaps();
        boolean asks = ns.hasUsernsOptions() && !(ns.getUsernsOptions().getMode() == NamespaceMode.NODE
                && ns.getUsernsOptions().getUidsCount() == 0 && ns.getUsernsOptions().getGidsCount() == 0);
        if (userns == null) {
            if (asks) {
                throw new InvalidContainerConfigException("namespace_options.userns_options: mode "
                        + ns.getUsernsOptions().getMode() + ": the pod has no user namespace (its userns_options differ)");
            }
            return;
        }
        if (ns.hasUsernsOptions() && !userns.sameAs(ns.getUsernsOptions())) {
            throw new InvalidContainerConfigException("namespace_options.userns_options: not the pod's (mode POD with"
                    + " its one uid and one gid mapping): a container joins its pod's user namespace");
        }
        if (in.config().getLinux().getSecurityContext().getPrivileged()) {
            throw new InvalidContainerConfigException("security_context.privileged: not with a pod user namespace");
        }
        spec.namespaces.add(new Linux.Namespace("user", pod.userns().toString()));
        spec.uidMappings = List.of(new Linux.IdMapping(userns.uid().container(), userns.uid().host(), userns.uid().length()));
        spec.gidMappings = List.of(new Linux.IdMapping(userns.gid().container(), userns.gid().host(), userns.gid().length()));
    }
}
