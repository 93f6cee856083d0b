package io.coracle.sandbox;

import java.nio.file.Path;

/**
 * What a pod sandbox is, fixed when RunPodSandbox creates it: identity, namespaces, cgroups, files
 * and the kubelet's config. Never changes afterwards; {@link SandboxStatus} holds what does.
 *
 * @param podDir        volatile per-pod dir: resolv.conf, hosts, hostname, shm/, netns
 * @param netnsPath     bind mount of the pod's network namespace; null with host network
 * @param cgroupParent  pod cgroup (cgroupfs path, relative to each hierarchy); containers go under it
 * @param pauseCgroup   the pause process's own leaf cgroup under cgroupParent
 * @param cgroupCreatedFrom topmost cgroup Coracle created for this pod (removed, while empty, at remove)
 * @param config        the PodSandboxConfig as the kubelet sent it (protobuf bytes)
 */
public record SandboxMetadata(String id, String name, String namespace, String uid, int attempt, long createdAtNanos,
                              boolean hostNetwork, boolean hostIpc, Sandbox.PidMode pidMode, Path podDir,
                              Path netnsPath, String cgroupParent, String pauseCgroup, String cgroupCreatedFrom,
                              String logDirectory, String runtimeHandler, byte[] config) {
}
