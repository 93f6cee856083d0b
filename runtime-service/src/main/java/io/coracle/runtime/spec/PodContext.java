package io.coracle.runtime.spec;

import java.nio.file.Path;

/**
 * What a container takes from its pod: the namespaces to join (null path: use the host's, or a new
 * one for pid in CONTAINER mode), the pod's cgroup, its files, and its hostname.
 *
 * @param netns        the pod's network namespace file; null for a host-network pod
 * @param ipcns        the pod's IPC namespace file; null when the pod uses the host's
 * @param utsns        the pod's UTS namespace file; null for a host-network pod
 * @param pidns        the pod's PID namespace file (POD mode); null when the pod has none to share
 * @param hostPid      whether the pod uses the host's PID namespace (else, without pidns, each container gets its own)
 * @param cgroupParent the pod cgroup, as a path relative to each hierarchy's root
 * @param resolvConf   the pod's resolv.conf, bind-mounted at /etc/resolv.conf (null: none)
 * @param hosts        the pod's hosts file (null: none)
 * @param hostnameFile the pod's hostname file (null: none)
 * @param shm          the pod's /dev/shm directory (null: a private tmpfs)
 * @param logDirectory the pod's log directory from its CRI config ("" when none)
 * @param runtimeHandler the pod's runtime handler ("" for the default)
 * @param shimCgroup   the cgroup the pod's shims move to from the daemon's (its pause leaf); null: they stay
 * @param userns       the pod's user namespace file (its pause's); null when the pod uses the node's
 * @param usernsMaps   its id mappings (null with userns)
 */
public record PodContext(String podId, String hostname, Path netns, Path ipcns, Path utsns, Path pidns,
                         boolean hostPid, String cgroupParent, Path resolvConf, Path hosts, Path hostnameFile, Path shm,
                         String logDirectory, String runtimeHandler, String shimCgroup, Path userns,
                         io.coracle.sandbox.PodUserNamespace usernsMaps) {

    /** A pod in the node's user namespace. */
    public PodContext(String podId, String hostname, Path netns, Path ipcns, Path utsns, Path pidns, boolean hostPid,
                      String cgroupParent, Path resolvConf, Path hosts, Path hostnameFile, Path shm,
                      String logDirectory, String runtimeHandler, String shimCgroup) {
        this(podId, hostname, netns, ipcns, utsns, pidns, hostPid, cgroupParent, resolvConf, hosts, hostnameFile, shm,
                logDirectory, runtimeHandler, shimCgroup, null, null);
    }

    /** A pod whose shims stay in the daemon's cgroup (tests of spec generation). */
    public PodContext(String podId, String hostname, Path netns, Path ipcns, Path utsns, Path pidns, boolean hostPid,
                      String cgroupParent, Path resolvConf, Path hosts, Path hostnameFile, Path shm,
                      String logDirectory, String runtimeHandler) {
        this(podId, hostname, netns, ipcns, utsns, pidns, hostPid, cgroupParent, resolvConf, hosts, hostnameFile, shm,
                logDirectory, runtimeHandler, null);
    }
}
