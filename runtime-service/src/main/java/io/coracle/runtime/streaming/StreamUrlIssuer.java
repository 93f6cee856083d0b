package io.coracle.runtime.streaming;

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
import io.grpc.Status;
import io.grpc.StatusException;

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
    public ExecResponse exec(ExecRequest r) throws StatusException {
        ContainerRecord c = containers.running(r.getContainerId());
        return ExecResponse.newBuilder().setUrl(url("exec", r.toBuilder().setContainerId(c.id()).build())).build();
    }

    public AttachResponse attach(AttachRequest r) throws StatusException {
        ContainerRecord c = containers.running(r.getContainerId());
        if (r.getStdin() && !c.containerConfig().getStdin()) {
            throw Status.FAILED_PRECONDITION.withDescription("container " + c.id()
                    + " was created without stdin: attach with stdin=false").asException();
        }
        return AttachResponse.newBuilder().setUrl(url("attach", r.toBuilder().setContainerId(c.id()).build())).build();
    }

    public PortForwardResponse portForward(PortForwardRequest r) throws StatusException {
        Sandbox s = sandboxes.find(r.getPodSandboxId()).orElseThrow(() -> Status.NOT_FOUND
                .withDescription("pod sandbox " + r.getPodSandboxId() + " not found").asException());
        if (!s.ready()) {
            throw Status.FAILED_PRECONDITION.withDescription("pod sandbox " + s.id() + " is not ready").asException();
        }
        return PortForwardResponse.newBuilder()
                .setUrl(url("portforward", r.toBuilder().setPodSandboxId(s.id()).build())).build();
    }

    private String url(String kind, Message request) throws StatusException {
        String token = tokens.issue(request).orElseThrow(() -> Status.RESOURCE_EXHAUSTED
                .withDescription("too many streaming requests in flight (" + StreamTokens.MAX_IN_FLIGHT
                        + "): use or let expire some of the URLs given out").asException());
        return baseUrl + "/" + kind + "/" + token;
    }
}
