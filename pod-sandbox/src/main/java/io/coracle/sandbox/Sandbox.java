package io.coracle.sandbox;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.google.protobuf.InvalidProtocolBufferException;
import io.coracle.cri.v1.PodSandboxConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * One pod sandbox as persisted under the root dir: its {@link SandboxMetadata} (fixed at creation)
 * and its {@link SandboxStatus} (state, pause process, network), as containerd's sandbox store
 * splits them. Immutable; an update replaces the status only. On disk both are one flat JSON
 * object (the layout of records written before the split). This is also the read-only view the
 * container code gets from {@link SandboxStore#get(String)}; the accessors below read through.
 */
public record Sandbox(@JsonUnwrapped SandboxMetadata metadata, @JsonUnwrapped SandboxStatus status) {

    public enum State { READY, NOTREADY }

    /** The pod's PID namespace mode: its own (pause is PID 1), or the node's. */
    public enum PidMode { POD, CONTAINER, NODE }

    public Sandbox {
        Objects.requireNonNull(metadata, "metadata");
        Objects.requireNonNull(status, "status");
    }

    Sandbox withStatus(SandboxStatus s) {
        return new Sandbox(metadata, s);
    }

    Sandbox withState(State s) {
        return withStatus(status.withState(s));
    }

    Sandbox withNetworkDetached() {
        return withStatus(status.withNetworkDetached());
    }

    /** "name_namespace_uid_attempt": the key the kubelet reserves. */
    @JsonIgnore
    public String reservedName() {
        return reservedName(name(), namespace(), uid(), attempt());
    }

    static String reservedName(String name, String namespace, String uid, int attempt) {
        return name + "_" + namespace + "_" + uid + "_" + attempt;
    }

    @JsonIgnore
    public PodSandboxConfig podConfig() {
        try {
            return io.coracle.cri.StoredMessages.parse(metadata.config(), PodSandboxConfig.parser());
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("sandbox " + id() + ": stored config unreadable", e);
        }
    }

    @JsonIgnore
    public boolean ready() {
        return status.state() == State.READY;
    }

    /** /proc/PID/ns/KIND of the pause process (ipc, uts, pid, net); null for what the pod shares with the host. */
    public Path namespacePath(String kind) {
        boolean host = switch (kind) {
            case "net", "uts" -> hostNetwork();
            case "ipc" -> hostIpc();
            case "pid" -> pidMode() != PidMode.POD;
            default -> throw new IllegalArgumentException("namespace kind " + kind);
        };
        if (host) {
            return null;
        }
        return kind.equals("net") && netnsPath() != null ? netnsPath() : Path.of("/proc", String.valueOf(pausePid()), "ns", kind);
    }

    @JsonIgnore
    public Path resolvConf() {
        return podDir().resolve("resolv.conf");
    }

    @JsonIgnore
    public Path hostsFile() {
        return podDir().resolve("hosts");
    }

    @JsonIgnore
    public Path hostnameFile() {
        return podDir().resolve("hostname");
    }

    /**
     * The pod's /dev/shm, to bind into each container: a tmpfs mounted on the host under the pod
     * dir (shared by the pod's containers, private to the pod), or the host's with host IPC.
     */
    @JsonIgnore
    public Path shmDir() {
        return hostIpc() ? Path.of("/dev/shm") : podDir().resolve("shm");
    }

    /** The pod's user namespace (its pause's, mappings from its stored config); null when it uses the node's. */
    @JsonIgnore
    public PodUserNamespace userNamespace() {
        var ns = podConfig().getLinux().getSecurityContext().getNamespaceOptions();
        return ns.hasUsernsOptions() ? PodUserNamespace.of("userns_options", ns.getUsernsOptions()) : null;
    }

    @JsonIgnore
    public PauseProcess pause() {
        return new PauseProcess(pausePid(), pauseStartTime());
    }

    // Read-through accessors, so readers need not know which half a field lives in.

    public String id() {
        return metadata.id();
    }

    public String name() {
        return metadata.name();
    }

    public String namespace() {
        return metadata.namespace();
    }

    public String uid() {
        return metadata.uid();
    }

    public int attempt() {
        return metadata.attempt();
    }

    public long createdAtNanos() {
        return metadata.createdAtNanos();
    }

    public boolean hostNetwork() {
        return metadata.hostNetwork();
    }

    public boolean hostIpc() {
        return metadata.hostIpc();
    }

    public PidMode pidMode() {
        return metadata.pidMode();
    }

    public Path podDir() {
        return metadata.podDir();
    }

    public Path netnsPath() {
        return metadata.netnsPath();
    }

    public String cgroupParent() {
        return metadata.cgroupParent();
    }

    public String pauseCgroup() {
        return metadata.pauseCgroup();
    }

    public String cgroupCreatedFrom() {
        return metadata.cgroupCreatedFrom();
    }

    public String logDirectory() {
        return metadata.logDirectory();
    }

    public String runtimeHandler() {
        return metadata.runtimeHandler();
    }

    public byte[] config() {
        return metadata.config();
    }

    public State state() {
        return status.state();
    }

    public int pausePid() {
        return status.pausePid();
    }

    public long pauseStartTime() {
        return status.pauseStartTime();
    }

    public String ip() {
        return status.ip();
    }

    public List<String> additionalIps() {
        return status.additionalIps();
    }

    public boolean networkAttached() {
        return status.networkAttached();
    }

    public String cniNetwork() {
        return status.cniNetwork();
    }

    public String cniResult() {
        return status.cniResult();
    }
}
