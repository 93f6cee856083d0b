package io.coracle.sandbox;

import java.nio.file.Path;

/**
 * What a RunPodSandbox or RemovePodSandbox is about to do, written durably before it does it and
 * deleted when it is done, so that a daemon killed half-way finds, at start-up, everything it must
 * undo (run) or finish (remove): the CNI network and args for a DEL that releases the pod's IPAM
 * addresses, the netns and pod dir, the cgroups, the pause pidfile.
 *
 * @param op              RUN or REMOVE
 * @param cniNetwork      the network list (JSON) ADD is given; null with host network
 * @param config          the PodSandboxConfig (protobuf bytes): its port mappings go to DEL too
 * @param ownsPodCgroup   whether the pod cgroup is Coracle's own (no cgroup_parent from the kubelet)
 * @param cgroupCreatedFrom the topmost cgroup this run created, once known; else null
 */
record SandboxIntent(Op op, String id, String name, String namespace, String uid, Path podDir, Path netnsPath,
                     String cgroupPod, String cgroupPause, boolean ownsPodCgroup, String cgroupCreatedFrom,
                     String cniNetwork, byte[] config) {

    enum Op { RUN, REMOVE }

    SandboxIntent withCgroupCreatedFrom(String createdFrom) {
        return new SandboxIntent(op, id, name, namespace, uid, podDir, netnsPath, cgroupPod, cgroupPause,
                ownsPodCgroup, createdFrom, cniNetwork, config);
    }
}
