package io.coracle.runtime.streaming;

import io.coracle.cri.CriError;
import com.google.protobuf.Message;
import io.coracle.cri.v1.AttachRequest;
import io.coracle.cri.v1.AttachResponse;
import io.coracle.cri.v1.ExecRequest;
import io.coracle.cri.v1.ExecResponse;
import io.coracle.cri.v1.PortForwardRequest;
import io.coracle.cri.v1.PortForwardResponse;
import io.coracle.runtime.container.ContainerRecord;
import io.coracle.runtime.container.ExecSyncRunner;
import io.coracle.sandbox.Sandbox;
import io.coracle.sandbox.SandboxStore;

/**
 * The Exec, Attach and PortForward RPCs: check the request against the containers and pods as
 * they are now, and answer with a single-use URL on the streaming server.
 */
public final class StreamUrlIssuer {
    private final StreamTokens tokens;
    private final ExecSyncRunner containers;
    private final SandboxStore sandboxes;
    private final String baseUrl;

    /** {@code baseUrl}: scheme, host and port of the streaming server, e.g. http://127.0.0.1:40123 */
    public StreamUrlIssuer(StreamTokens tokens, ExecSyncRunner containers, SandboxStore sandboxes, String baseUrl) {
        this.tokens = tokens;
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.baseUrl = baseUrl;
    }

    /** The request's shape is checked by the CRI edge (CriRequestValidator); here, the container and its state. */
    public ExecResponse exec(ExecRequest r) {
        ContainerRecord c = containers.running(r.getContainerId());
        return ExecResponse.newBuilder().setUrl(url("exec", r.toBuilder().setContainerId(c.id()).build())).build();
    }

    public AttachResponse attach(AttachRequest r) {
        ContainerRecord c = containers.running(r.getContainerId());
        if (r.getStdin() && !c.containerConfig().getStdin()) {
            throw new CriError(CriError.Kind.PRECONDITION, "container " + c.id()
                    + " was created without stdin: attach with stdin=false");
        }
        return AttachResponse.newBuilder().setUrl(url("attach", r.toBuilder().setContainerId(c.id()).build())).build();
    }

    public PortForwardResponse portForward(PortForwardRequest r) {
        Sandbox s = sandboxes.find(r.getPodSandboxId()).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND, "pod sandbox " + r.getPodSandboxId() + " not found"));
        if (!s.ready()) {
            throw new CriError(CriError.Kind.PRECONDITION, "pod sandbox " + s.id() + " is not ready");
        }
        return PortForwardResponse.newBuilder()
                .setUrl(url("portforward", r.toBuilder().setPodSandboxId(s.id()).build())).build();
    }

    private String url(String kind, Message request) {
        String token = tokens.issue(request).orElseThrow(() -> new CriError(CriError.Kind.RESOURCE_EXHAUSTED, "too many streaming requests in flight (" + StreamTokens.MAX_IN_FLIGHT
                        + "): use or let expire some of the URLs given out"));
        return baseUrl + "/" + kind + "/" + token;
    }
}
