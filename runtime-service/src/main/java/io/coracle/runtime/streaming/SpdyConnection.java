package io.coracle.runtime.streaming;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.spdy.DefaultSpdyDataFrame;
import io.netty.handler.codec.spdy.DefaultSpdyGoAwayFrame;
import io.netty.handler.codec.spdy.DefaultSpdyPingFrame;
import io.netty.handler.codec.spdy.DefaultSpdyRstStreamFrame;
import io.netty.handler.codec.spdy.DefaultSpdySynReplyFrame;
import io.netty.handler.codec.spdy.SpdyDataFrame;
import io.netty.handler.codec.spdy.SpdyGoAwayFrame;
import io.netty.handler.codec.spdy.SpdyHeaders;
import io.netty.handler.codec.spdy.SpdyPingFrame;
import io.netty.handler.codec.spdy.SpdyRstStreamFrame;
import io.netty.handler.codec.spdy.SpdyStreamStatus;
import io.netty.handler.codec.spdy.SpdySynStreamFrame;
import io.netty.util.ReferenceCountUtil;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Logger;

/**
 * The server side of a SPDY/3.1 session as the Kubernetes clients (moby/spdystream) speak it:
 * the client opens streams (odd ids) carrying typed headers, the server accepts each with a
 * SYN_REPLY, data flows with FIN half-closes, PINGs are echoed. No SPDY flow control: the Go
 * peers neither send nor honour WINDOW_UPDATE, so back-pressure is Netty's (auto-read and
 * writability). Streams go to an {@link Acceptor}: remote command or port-forward.
 */
final class SpdyConnection extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = Logger.getLogger(SpdyConnection.class.getName());
    /** Largest DATA frame we send: big enough for throughput, small enough to interleave streams. */
    static final int MAX_FRAME = 64 * 1024;

    /** Receives the streams the client opens and the connection's end; on the event loop. */
    interface Acceptor {
        void opened(Stream stream);

        void closed();
    }

    private final Acceptor acceptor;
    private final String what;
    private final Map<Integer, Stream> streams = new HashMap<>();
    private Channel channel;
    private int lastStreamId;

    SpdyConnection(Acceptor acceptor, String what) {
        this.acceptor = acceptor;
        this.what = what;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            switch (msg) {
                case SpdySynStreamFrame syn -> synStream(ctx, syn);
                case SpdyDataFrame data -> {
                    Stream s = streams.get(data.streamId());
                    if (s == null) {
                        ctx.writeAndFlush(new DefaultSpdyRstStreamFrame(data.streamId(), SpdyStreamStatus.INVALID_STREAM));
                        return;
                    }
                    if (data.content().isReadable()) {
                        s.listener.data(data.content());
                    }
                    if (data.isLast()) {
                        s.remoteEnded();
                    }
                }
                case SpdyRstStreamFrame rst -> {
                    Stream s = streams.remove(rst.streamId());
                    if (s != null) {
                        s.localEnded = s.remoteEnded = true;
                        s.listener.reset();
                    }
                }
                case SpdyPingFrame ping -> {
                    if ((ping.id() & 1) == 1) { // client-initiated: echo it
                        ctx.writeAndFlush(new DefaultSpdyPingFrame(ping.id()));
                    }
                }
                case SpdyGoAwayFrame ignored -> {
                    // The client opens no more streams; those open carry on.
                }
                default -> {
                    // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do for these sessions.
                }
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void synStream(ChannelHandlerContext ctx, SpdySynStreamFrame syn) {
        int id = syn.streamId();
        if ((id & 1) == 0 || id <= lastStreamId) {
            ctx.writeAndFlush(new DefaultSpdyRstStreamFrame(id, SpdyStreamStatus.PROTOCOL_ERROR));
            return;
        }
        lastStreamId = id;
        Map<String, String> headers = new HashMap<>();
        SpdyHeaders h = syn.headers();
        for (Map.Entry<CharSequence, CharSequence> e : h) {
            headers.putIfAbsent(e.getKey().toString().toLowerCase(Locale.ROOT), e.getValue().toString());
        }
        Stream s = new Stream(id, headers);
        streams.put(id, s);
        // Netty encodes an empty header block as no bytes at all, which spdystream cannot read:
        // the reply echoes the stream's type.
        DefaultSpdySynReplyFrame reply = new DefaultSpdySynReplyFrame(id);
        reply.headers().set("streamtype", headers.getOrDefault("streamtype", ""));
        ctx.writeAndFlush(reply);
        if (syn.isLast()) {
            s.remoteEnded = true;
        }
        acceptor.opened(s);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        for (Stream s : streams.values()) {
            s.listener.reset();
        }
        streams.clear();
        acceptor.closed();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.warning(what + ": closing the SPDY connection from " + ctx.channel().remoteAddress() + ": " + cause);
        ctx.close();
    }

    /** Says goodbye and closes once everything queued is written. */
    void close() {
        channel.eventLoop().execute(() -> channel.writeAndFlush(new DefaultSpdyGoAwayFrame(lastStreamId))
                .addListener(ChannelFutureListener.CLOSE));
    }

    Channel channel() {
        return channel;
    }

    /** A client-opened stream. */
    final class Stream implements OutboundStream {
        final int id;
        final Map<String, String> headers;
        private InboundListener listener = InboundListener.DISCARD;
        private boolean localEnded, remoteEnded;

        Stream(int id, Map<String, String> headers) {
            this.id = id;
            this.headers = headers;
        }

        /** A header by its (lowercase) name, or "". */
        String header(String name) {
            return headers.getOrDefault(name, "");
        }

        /** Where the client's data for this stream goes; set it on the event loop. */
        void listen(InboundListener l) {
            listener = l;
            if (remoteEnded) {
                l.end();
            }
        }

        @Override
        public Channel channel() {
            return channel;
        }

        @Override
        public void send(ByteBuf data) {
            while (data.readableBytes() > MAX_FRAME) {
                channel.write(new DefaultSpdyDataFrame(id, data.readRetainedSlice(MAX_FRAME)));
            }
            channel.writeAndFlush(new DefaultSpdyDataFrame(id, data));
        }

        @Override
        public void finish() {
            if (channel.eventLoop().inEventLoop()) {
                finishNow();
            } else {
                channel.eventLoop().execute(this::finishNow);
            }
        }

        private void finishNow() {
            if (localEnded) {
                return;
            }
            localEnded = true;
            DefaultSpdyDataFrame fin = new DefaultSpdyDataFrame(id, Unpooled.EMPTY_BUFFER);
            fin.setLast(true);
            channel.writeAndFlush(fin);
            forgetIfDone();
        }

        /** Refuses or abandons the stream (RST_STREAM CANCEL). */
        void reset() {
            channel.eventLoop().execute(() -> {
                if (streams.remove(id) != null) {
                    localEnded = remoteEnded = true;
                    channel.writeAndFlush(new DefaultSpdyRstStreamFrame(id, SpdyStreamStatus.CANCEL));
                }
            });
        }

        private void remoteEnded() {
            if (!remoteEnded) {
                remoteEnded = true;
                listener.end();
            }
            forgetIfDone();
        }

        private void forgetIfDone() {
            if (localEnded && remoteEnded) {
                streams.remove(id);
            }
        }
    }
}
