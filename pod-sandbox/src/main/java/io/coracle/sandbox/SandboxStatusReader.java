package io.coracle.sandbox;

import io.coracle.cri.CriError;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.coracle.cri.v1.LinuxPodSandboxStatus;
import io.coracle.cri.v1.Namespace;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodIP;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.PodSandboxNetworkStatus;
import io.coracle.cri.v1.PodSandboxState;
import io.coracle.cri.v1.PodSandboxStatus;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PodSandboxStatusResponse;
import java.io.IOException;
import java.time.Instant;

/** PodSandboxStatus: state (READY only while the pause process runs), IPs, namespace options; verbose info as JSON. */
public final class SandboxStatusReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SandboxEnvironment env;

    SandboxStatusReader(SandboxEnvironment env) {
        this.env = env;
    }

    /** A pod's status with the record and state it was built from. */
    private record Built(Sandbox sandbox, PodSandboxState state, PodSandboxStatus status) {}

    /**
     * Each pod's status, kept until its record or state changes: the kubelet asks every second. At most
     * one per pod asked about lately; emptied when it outgrows any node's pod count.
     */
    private final java.util.Map<String, Built> built = new java.util.concurrent.ConcurrentHashMap<>();

    public PodSandboxStatusResponse status(PodSandboxStatusRequest request) {
        Sandbox s = env.store.find(request.getPodSandboxId()).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND, "sandbox " + request.getPodSandboxId() + " not found"));
        PodSandboxState state = state(s);
        Built b = built.get(s.id());
        if (b == null || b.sandbox() != s || b.state() != state) {
            if (built.size() >= 4096) {
                built.clear();
            }
            b = new Built(s, state, statusOf(s, state));
            built.put(s.id(), b);
        }
        PodSandboxStatus status = b.status();
        Instant t = Instant.now();
        long now = t.getEpochSecond() * 1_000_000_000L + t.getNano();
        PodSandboxStatusResponse.Builder r = PodSandboxStatusResponse.newBuilder().setStatus(status).setTimestamp(now);
        if (request.getVerbose()) {
            r.putInfo("info", verboseInfo(s, s.podConfig()));
        }
        return r.build();
    }

    /** The non-verbose status of a sandbox as it is now (also what its events carry). */
    static PodSandboxStatus statusOf(Sandbox s) {
        return statusOf(s, state(s));
    }

    private static PodSandboxStatus statusOf(Sandbox s, PodSandboxState state) {
        PodSandboxConfig cfg = s.podConfig();
        PodSandboxStatus.Builder b = PodSandboxStatus.newBuilder()
                .setId(s.id())
                .setMetadata(metadata(s))
                .setState(state)
                .setCreatedAt(s.createdAtNanos())
                .putAllLabels(cfg.getLabelsMap())
                .putAllAnnotations(cfg.getAnnotationsMap())
                .setRuntimeHandler(s.runtimeHandler() == null ? "" : s.runtimeHandler())
                .setLinux(LinuxPodSandboxStatus.newBuilder().setNamespaces(Namespace.newBuilder().setOptions(
                        NamespaceOption.newBuilder()
                                .setNetwork(s.hostNetwork() ? NamespaceMode.NODE : NamespaceMode.POD)
                                .setIpc(s.hostIpc() ? NamespaceMode.NODE : NamespaceMode.POD)
                                .setPid(NamespaceMode.valueOf(s.pidMode().name())))));
        if (!s.hostNetwork() && s.ip() != null && state == PodSandboxState.SANDBOX_READY) {
            PodSandboxNetworkStatus.Builder n = PodSandboxNetworkStatus.newBuilder().setIp(s.ip());
            s.additionalIps().forEach(ip -> n.addAdditionalIps(PodIP.newBuilder().setIp(ip)));
            b.setNetwork(n);
        }
        return b.build();
    }

    static PodSandboxState state(Sandbox s) {
        return s.ready() && s.pause().alive() ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
    }

    static PodSandboxMetadata metadata(Sandbox s) {
        return PodSandboxMetadata.newBuilder().setName(s.name()).setNamespace(s.namespace()).setUid(s.uid())
                .setAttempt(s.attempt()).build();
    }

    /**
     * What is known of the sandbox, from memory: no CNI CHECK (containerd's CRI plugin runs none either;
     * it reports the stored result), no process started, no file read.
     */
    private String verboseInfo(Sandbox s, PodSandboxConfig cfg) {
        ObjectNode o = JSON.createObjectNode();
        o.put("pid", s.pausePid());
        o.put("podDir", s.podDir().toString());
        if (s.netnsPath() != null) {
            o.put("netNamespacePath", s.netnsPath().toString());
        }
        o.put("cgroupParent", s.cgroupParent());
        o.put("pauseCgroup", s.pauseCgroup());
        o.put("runtimeHandler", s.runtimeHandler());
        o.put("networkAttached", s.networkAttached());
        try {
            if (s.cniResult() != null) {
                o.set("cniResult", JSON.readTree(s.cniResult()));
            }
            o.set("config", JSON.readTree(JsonFormat.printer().print(cfg)));
        } catch (InvalidProtocolBufferException e) {
            o.put("config", "unprintable: " + e.getMessage());
        } catch (IOException e) {
            o.put("cniResult", s.cniResult());
        }
        return o.toString();
    }
}
