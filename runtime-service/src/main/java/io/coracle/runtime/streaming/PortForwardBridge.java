package io.coracle.runtime.streaming;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Queue;
import java.util.logging.Logger;

/**
 * One forwarded connection: a client data stream joined to a TCP connection to a port inside the
 * pod, both ways, with half-closes passed on. Failures go to the client as text on the error
 * stream. Runs on the client connection's event loop, where the pod socket is registered too.
 */
final class PortForwardBridge extends ChannelInboundHandlerAdapter implements InboundListener {
    private static final Logger LOG = Logger.getLogger(PortForwardBridge.class.getName());
    private static final long POD_EOF_GRACE_MS = 1000;

    private final OutboundStream data, error;
    private final ConnectionFlow flow;
    private final String what;
    private final Queue<ByteBuf> early = new ArrayDeque<>();
    private Channel pod;
    private boolean clientEnded, podEnded, closed;

    private PortForwardBridge(OutboundStream data, OutboundStream error, ConnectionFlow flow, String what) {
        this.data = data;
        this.error = error;
        this.flow = flow;
        this.what = what;
    }

    /**
     * Starts forwarding: the returned listener takes the client's data for the stream. {@code netns}
     * is the pod's network namespace, null for a pod on the host network.
     */
    static InboundListener start(PodDialer dialer, Path netns, int port, OutboundStream data, OutboundStream error,
                                 ConnectionFlow flow, String pod) {
        String what = "port-forward to port " + port + " of pod " + pod;
        PortForwardBridge b = new PortForwardBridge(data, error, flow, what);
        Channel conn = data.channel();
        if (port < 1 || port > 65535) {
            b.fail("invalid port " + port);
            return b;
        }
        dialer.dial(netns, port, conn.eventLoop(), b).whenComplete((ch, failure) -> conn.eventLoop().execute(() -> {
            if (failure != null) {
                Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                        ? failure.getCause() : failure;
                b.fail(cause.getMessage());
            } else {
                b.connected(ch);
            }
        }));
        return b;
    }

    private void connected(Channel ch) {
        if (closed) {
            ch.close();
            return;
        }
        pod = ch;
        pod.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        ByteBuf b;
        while ((b = early.poll()) != null) {
            pod.write(b);
        }
        pod.flush();
        flow.wroteToPod(pod);
        if (clientEnded) {
            shutdownPodOutput();
        }
        pod.config().setAutoRead(true);
        LOG.fine(what + ": connected");
    }

    private void fail(String message) {
        LOG.info(what + ": " + message);
        closed = true;
        releaseEarly();
        error.send(Unpooled.copiedBuffer(what + ": " + message, StandardCharsets.UTF_8));
        error.finish();
        data.finish();
    }

    // The client's side (InboundListener).

    @Override
    public void data(ByteBuf bytes) {
        if (closed) {
            return;
        }
        if (pod == null) {
            early.add(bytes.retain());
            return;
        }
        pod.writeAndFlush(bytes.retain());
        flow.wroteToPod(pod);
    }

    @Override
    public void end() {
        if (clientEnded) {
            return;
        }
        clientEnded = true;
        if (pod != null) {
            shutdownPodOutput();
        }
    }

    @Override
    public void reset() {
        clientEnded = true;
        if (pod != null) {
            pod.close();
        } else {
            closed = true;
            releaseEarly();
        }
    }

    private void shutdownPodOutput() {
        pod.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
            if (pod.isActive()) {
                ((DuplexChannel) pod).shutdownOutput();
            }
            closeIfDone();
        });
    }

    private void closeIfDone() {
        if (clientEnded && podEnded) {
            pod.close();
        }
    }

    private void releaseEarly() {
        ByteBuf b;
        while ((b = early.poll()) != null) {
            b.release();
        }
    }

    // The pod's side (the socket's pipeline).

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        data.send((ByteBuf) msg);
        flow.wroteToClient(ctx.channel());
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            podEnded = true;
            data.finish();
            closeIfDone();
            // As socat and containerd do: once the pod is done sending, the client gets a moment
            // to finish too (a WebSocket client cannot say it has), then the connection closes.
            ctx.executor().schedule(() -> ctx.close(), POD_EOF_GRACE_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        flow.podWritable(ctx.channel());
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closed = true;
        flow.podClosed(ctx.channel());
        data.finish();
        error.finish();
        LOG.fine(what + ": closed");
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.info(what + ": " + cause.getMessage());
        ctx.close();
    }
}
