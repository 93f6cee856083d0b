package io.coracle.sandbox;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.google.protobuf.InvalidProtocolBufferException;
import io.coracle.cri.v1.PodSandboxConfig;
import java.nio.file.Path;
import java.util.List;

/**
 * One pod sandbox as persisted under the root dir: identity, the pause process, the namespaces
 * it holds, the pod cgroup, its network and files. Immutable; changes make a copy. This is also
 * the read-only view the container code gets from {@link SandboxStore#get(String)}.
 *
 * @param podDir        volatile per-pod dir: resolv.conf, hosts, hostname, shm/, netns
 * @param netnsPath     bind mount of the pod's network namespace; null with host network
 * @param cgroupParent  pod cgroup (cgroupfs path, relative to each hierarchy); containers go under it
 * @param pauseCgroup   the pause process's own leaf cgroup under cgroupParent
 * @param cgroupCreatedFrom topmost cgroup Coracle created for this pod (removed, while empty, at remove)
 * @param networkAttached CNI ADD done and not yet undone by a successful DEL
 * @param cniNetwork    the network list config (JSON) used at ADD, so DEL uses the same
 * @param cniResult     the ADD result (JSON), the prevResult of DEL and CHECK
 */
public record Sandbox(String id, String name, String namespace, String uid, int attempt, long createdAtNanos,
                      State state, int pausePid, long pauseStartTime, boolean hostNetwork, boolean hostIpc,
                      PidMode pidMode, Path podDir, Path netnsPath, String cgroupParent, String pauseCgroup,
                      String cgroupCreatedFrom, String logDirectory, String ip, List<String> additionalIps,
                      boolean networkAttached, String cniNetwork, String cniResult, String runtimeHandler,
                      byte[] config) {

    public enum State { READY, NOTREADY }

    /** The pod's PID namespace mode: its own (pause is PID 1), or the node's. */
    public enum PidMode { POD, CONTAINER, NODE }

    public Sandbox {
        additionalIps = additionalIps == null ? List.of() : List.copyOf(additionalIps);
    }

    /** "name_namespace_uid_attempt": the key the kubelet reserves. */
    @JsonIgnore
    public String reservedName() {
        return reservedName(name, namespace, uid, attempt);
    }

    static String reservedName(String name, String namespace, String uid, int attempt) {
        return name + "_" + namespace + "_" + uid + "_" + attempt;
    }

    @JsonIgnore
    public PodSandboxConfig podConfig() {
        try {
            return PodSandboxConfig.parseFrom(config);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("sandbox " + id + ": stored config unreadable", e);
        }
    }

    @JsonIgnore
    public boolean ready() {
        return state == State.READY;
    }

    /** /proc/PID/ns/KIND of the pause process (ipc, uts, pid, net); null for what the pod shares with the host. */
    public Path namespacePath(String kind) {
        boolean host = switch (kind) {
            case "net", "uts" -> hostNetwork;
            case "ipc" -> hostIpc;
            case "pid" -> pidMode != PidMode.POD;
            default -> throw new IllegalArgumentException("namespace kind " + kind);
        };
        if (host) {
            return null;
        }
        return kind.equals("net") && netnsPath != null ? netnsPath : Path.of("/proc", String.valueOf(pausePid), "ns", kind);
    }

    @JsonIgnore
    public Path resolvConf() {
        return podDir.resolve("resolv.conf");
    }

    @JsonIgnore
    public Path hostsFile() {
        return podDir.resolve("hosts");
    }

    @JsonIgnore
    public Path hostnameFile() {
        return podDir.resolve("hostname");
    }

    /**
     * The pod's /dev/shm, to bind into each container: a tmpfs mounted on the host under the pod
     * dir (shared by the pod's containers, private to the pod), or the host's with host IPC.
     */
    @JsonIgnore
    public Path shmDir() {
        return hostIpc ? Path.of("/dev/shm") : podDir.resolve("shm");
    }

    @JsonIgnore
    public PauseProcess pause() {
        return new PauseProcess(pausePid, pauseStartTime);
    }

    Sandbox withState(State s) {
        return new Sandbox(id, name, namespace, uid, attempt, createdAtNanos, s, pausePid, pauseStartTime, hostNetwork,
                hostIpc, pidMode, podDir, netnsPath, cgroupParent, pauseCgroup, cgroupCreatedFrom, logDirectory, ip,
                additionalIps, networkAttached, cniNetwork, cniResult, runtimeHandler, config);
    }

    Sandbox withNetworkDetached() {
        return new Sandbox(id, name, namespace, uid, attempt, createdAtNanos, state, pausePid, pauseStartTime,
                hostNetwork, hostIpc, pidMode, podDir, netnsPath, cgroupParent, pauseCgroup, cgroupCreatedFrom,
                logDirectory, ip, additionalIps, false, cniNetwork, cniResult, runtimeHandler, config);
    }
}
