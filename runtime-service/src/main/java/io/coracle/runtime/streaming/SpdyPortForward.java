package io.coracle.runtime.streaming;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.logging.Logger;

/**
 * Port forwarding over SPDY (portforward.k8s.io): for each forwarded connection the client opens
 * an error stream and a data stream, paired by their requestID header and naming the pod port in
 * their port header; when both are there, the data stream is joined to that port in the pod.
 */
final class SpdyPortForward implements SpdyConnection.Acceptor {
    private static final Logger LOG = Logger.getLogger(SpdyPortForward.class.getName());
    static final String PROTOCOL = "portforward.k8s.io";

    private final PodDialer dialer;
    private final Path netns;
    private final String podId;
    private final ConnectionFlow flow;
    private final Map<String, SpdyConnection.Stream[]> pending = new HashMap<>();

    SpdyPortForward(PodDialer dialer, Path netns, String podId, ConnectionFlow flow) {
        this.dialer = dialer;
        this.netns = netns;
        this.podId = podId;
        this.flow = flow;
    }

    @Override
    public void opened(SpdyConnection.Stream stream) {
        String type = stream.header("streamtype");
        int slot = switch (type) {
            case "error" -> 0;
            case "data" -> 1;
            default -> -1;
        };
        if (slot < 0) {
            LOG.info("port-forward to pod " + podId + ": refusing a stream of type '" + type + "'");
            stream.reset();
            return;
        }
        String requestId = stream.header("requestid");
        if (requestId.isEmpty()) { // clients before requestID: the pair's stream ids are consecutive odd numbers
            requestId = Integer.toString(slot == 0 ? stream.id : stream.id - 2);
        }
        SpdyConnection.Stream[] pair = pending.computeIfAbsent(requestId, k -> new SpdyConnection.Stream[2]);
        if (pair[slot] != null) {
            LOG.info("port-forward to pod " + podId + ": a second " + type + " stream for request " + requestId);
            stream.reset();
            return;
        }
        pair[slot] = stream;
        if (pair[0] == null || pair[1] == null) {
            return;
        }
        pending.remove(requestId);
        int port;
        try {
            port = Integer.parseInt(pair[1].header("port"));
        } catch (NumberFormatException e) {
            port = -1;
        }
        pair[1].listen(PortForwardBridge.start(dialer, netns, port, pair[1], pair[0], flow, podId));
    }

    @Override
    public void closed() {
        pending.clear(); // the connection resets every stream's listener, and so the bridges
    }
}
