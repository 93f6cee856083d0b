package io.coracle.runtime.streaming;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.BitSet;
import java.util.logging.Logger;

/**
 * The Kubernetes channel framing over one WebSocket: each message's first byte names the channel
 * (binary), or, in the base64 protocols, its first character is the channel digit and the rest is
 * base64 (text). With v5, a message [255, n] closes the client's channel n. Messages for channels
 * nobody listens to are dropped.
 */
final class WebSocketChannels extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = Logger.getLogger(WebSocketChannels.class.getName());
    private static final int CLOSE_SIGNAL = 255;

    /** Called when the connection is gone. */
    interface Closed {
        void closed();
    }

    private final boolean base64, closeSignal;
    private final String what;
    private final InboundListener[] listeners = new InboundListener[256];
    private final BitSet open = new BitSet();
    private boolean closeWhenFinished;
    private Closed onClose = () -> { };
    private Channel channel;

    WebSocketChannels(boolean base64, boolean closeSignal, String what) {
        this.base64 = base64;
        this.closeSignal = closeSignal;
        this.what = what;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    void listen(int ch, InboundListener l) {
        listeners[ch] = l;
    }

    void onClose(Closed c) {
        onClose = c;
    }

    /** Ends the connection once every channel handed out by {@link #stream} has finished (port-forward). */
    void closeWhenAllFinished() {
        closeWhenFinished = true;
    }

    /** The server's side of channel {@code ch}. */
    OutboundStream stream(int ch) {
        open.set(ch);
        return new OutboundStream() {
            @Override
            public Channel channel() {
                return channel;
            }

            @Override
            public void send(ByteBuf data) {
                channel.writeAndFlush(frame(ch, data));
            }

            @Override
            public void finish() {
                // No half-close in the channel protocols: the connection's end ends every channel.
                if (channel.eventLoop().inEventLoop()) {
                    finished(ch);
                } else {
                    channel.eventLoop().execute(() -> finished(ch));
                }
            }
        };
    }

    private void finished(int ch) {
        open.clear(ch);
        if (closeWhenFinished && open.isEmpty()) {
            close();
        }
    }

    private WebSocketFrame frame(int ch, ByteBuf data) {
        try {
            if (base64) {
                byte[] enc = Base64.getEncoder().encode(ByteBufUtil.getBytes(data));
                ByteBuf text = channel.alloc().buffer(1 + enc.length);
                text.writeByte('0' + ch).writeBytes(enc);
                return new TextWebSocketFrame(text);
            }
            // All direct, so the socket write needs no copy into a direct buffer.
            ByteBuf prefix = channel.alloc().directBuffer(1).writeByte(ch);
            return new BinaryWebSocketFrame(channel.alloc().compositeDirectBuffer(2).addComponents(true, prefix,
                    data.retain()));
        } finally {
            data.release();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            switch (msg) {
                case BinaryWebSocketFrame b when !base64 -> deliver(b.content());
                case TextWebSocketFrame t when base64 -> {
                    ByteBuf c = t.content();
                    if (!c.isReadable()) {
                        return;
                    }
                    int ch = c.readByte() - '0';
                    byte[] data;
                    try {
                        data = Base64.getDecoder().decode(ByteBufUtil.getBytes(c));
                    } catch (IllegalArgumentException e) {
                        protocolError("a text message that is not base64");
                        return;
                    }
                    ByteBuf payload = Unpooled.buffer(1 + data.length).writeByte(ch).writeBytes(data);
                    try {
                        deliver(payload);
                    } finally {
                        payload.release();
                    }
                }
                case PingWebSocketFrame ping -> ctx.writeAndFlush(new PongWebSocketFrame(ping.content().retain()));
                case CloseWebSocketFrame close -> ctx.writeAndFlush(new CloseWebSocketFrame(close.statusCode(), ""))
                        .addListener(ChannelFutureListener.CLOSE);
                case PongWebSocketFrame ignored -> {
                }
                default -> protocolError("a " + msg.getClass().getSimpleName() + " in a "
                        + (base64 ? "base64 (text)" : "binary") + " channel protocol");
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void deliver(ByteBuf c) {
        if (!c.isReadable()) {
            return;
        }
        int ch = c.readUnsignedByte();
        if (closeSignal && ch == CLOSE_SIGNAL) {
            if (c.isReadable()) {
                InboundListener l = listeners[c.readUnsignedByte()];
                if (l != null) {
                    l.end();
                }
            }
            return;
        }
        InboundListener l = listeners[ch];
        if (l != null && c.isReadable()) {
            l.data(c);
        }
    }

    private void protocolError(String what) {
        LOG.warning(this.what + ": closing the WebSocket: the client sent " + what);
        channel.writeAndFlush(new CloseWebSocketFrame(1002, "protocol error: " + what))
                .addListener(ChannelFutureListener.CLOSE);
    }

    /** Closes the WebSocket after what is queued (normal closure). */
    void close() {
        channel.eventLoop().execute(() -> channel.writeAndFlush(new CloseWebSocketFrame(1000, ""))
                .addListener(ChannelFutureListener.CLOSE));
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        for (InboundListener l : listeners) {
            if (l != null) {
                l.reset();
            }
        }
        onClose.closed();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.warning(what + ": closing the WebSocket from " + ctx.channel().remoteAddress() + ": " + cause);
        ctx.close();
    }
}
