package io.coracle.runtime.streaming;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.HashSet;
import java.util.Set;

/**
 * Back-pressure between a port-forward connection and the pod sockets it carries, all on one
 * event loop: a pod socket that cannot take more stops reading from the client connection; a
 * client connection that cannot take more stops reading from the pod sockets.
 */
final class ConnectionFlow extends ChannelInboundHandlerAdapter {
    private final Set<Channel> fullPods = new HashSet<>();
    private final Set<Channel> pausedPods = new HashSet<>();
    private Channel connection;

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        connection = ctx.channel();
    }

    /** After writing into a pod socket. */
    void wroteToPod(Channel pod) {
        if (!pod.isWritable() && fullPods.add(pod)) {
            connection.config().setAutoRead(false);
        }
    }

    /** A pod socket's writability changed or it closed. */
    void podWritable(Channel pod) {
        if ((pod.isWritable() || !pod.isActive()) && fullPods.remove(pod) && fullPods.isEmpty()) {
            connection.config().setAutoRead(true);
        }
    }

    /** After sending pod data to the client. */
    void wroteToClient(Channel pod) {
        if (!connection.isWritable() && pausedPods.add(pod)) {
            pod.config().setAutoRead(false);
        }
    }

    void podClosed(Channel pod) {
        pausedPods.remove(pod);
        podWritable(pod);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            for (Channel pod : pausedPods) {
                pod.config().setAutoRead(true);
            }
            pausedPods.clear();
        }
        ctx.fireChannelWritabilityChanged();
    }
}
