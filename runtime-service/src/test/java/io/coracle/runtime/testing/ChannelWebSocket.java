package io.coracle.runtime.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientHandshaker;
import io.netty.handler.codec.http.websocketx.WebSocketClientHandshakerFactory;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketVersion;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A WebSocket carrying the Kubernetes "channel" framing (k8s.io/apimachinery wsstream, the kubelet's
 * exec/attach/port-forward over WebSocket): every message's first byte is its channel; with a base64
 * subprotocol ({@code base64.channel.k8s.io}, {@code v4.base64.channel.k8s.io}) messages are text frames
 * holding the channel as an ASCII digit ({@code '0' + channel}) followed by base64 data. Under
 * {@code v5.channel.k8s.io} a binary message {@code [255, channel]} signals that the channel is closed.
 *
 * <p>The handshake is a GET with the offered subprotocols in one {@code Sec-WebSocket-Protocol} header
 * ("a, b", as gorilla/websocket sends it) and no Origin. Messages from the server may be fragmented
 * (gorilla fragments at its buffer size); they are reassembled. Pings are answered.
 */
final class ChannelWebSocket implements AutoCloseable {
    /** Close signal prefix under v5.channel.k8s.io. */
    static final int CLOSE_SIGNAL = 255;
    private static final int MAX_MESSAGE = 64 * 1024 * 1024;

    /** Gets messages on the event loop; must not block. */
    interface Listener {
        void message(int channel, byte[] data);

        /** v5 close signal [255, channel] from the server. */
        default void closeSignal(int channel) {
        }

        /** The connection ended; {@code failure} is null for an orderly close. */
        void closed(Throwable failure);
    }

    private final URI url;
    private final Listener listener;
    private final StreamingNetty.WriteGate gate = new StreamingNetty.WriteGate();
    private final CompletableFuture<String> upgraded = new CompletableFuture<>();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private final List<String> violations = new CopyOnWriteArrayList<>();
    private final AtomicBoolean closeSent = new AtomicBoolean();
    private Channel channel;
    private volatile String protocol; // set on the event loop before the first message is handled
    private volatile boolean base64;
    private final StreamingNetty.ReadThrottle throttle = new StreamingNetty.ReadThrottle();
    private volatile Throwable failure;
    private volatile int closeStatus = -1;
    private volatile String closeReason = "";

    private ChannelWebSocket(URI url, Listener listener) {
        this.url = url;
        this.listener = listener;
    }

    /**
     * Opens a WebSocket to an http:// or https:// (ws://, wss://) URL, offering {@code protocols} (none: no
     * subprotocol header).
     *
     * @throws UpgradeRefusedException if the server answers other than 101
     */
    static ChannelWebSocket connect(URI url, List<String> protocols, Listener listener) throws IOException {
        ChannelWebSocket ws = new ChannelWebSocket(url, listener);
        String scheme = StreamingNetty.isTls(url) ? "wss" : "ws";
        URI wsUrl = URI.create(scheme + "://" + url.getRawAuthority() + StreamingNetty.requestTarget(url));
        WebSocketClientHandshaker handshaker = WebSocketClientHandshakerFactory.newHandshaker(wsUrl,
                WebSocketVersion.V13, protocols.isEmpty() ? null : String.join(", ", protocols), false,
                new DefaultHttpHeaders(), MAX_MESSAGE, true, false, 10_000L, false, false);
        ws.channel = StreamingNetty.connect(url, ch -> ch.pipeline()
                .addLast("http", new HttpClientCodec())
                .addLast("aggregator", new HttpObjectAggregator(1024 * 1024))
                .addLast("upgrade", ws.new Upgrade(handshaker)));
        ws.throttle.bind(ws.channel);
        StreamingNetty.awaitHandshake(ws.channel, ws.upgraded, url);
        return ws;
    }

    /** The subprotocol the server chose ("" for none). */
    String protocol() {
        return protocol;
    }

    boolean isBase64() {
        return base64;
    }

    Channel channel() {
        return channel;
    }

    StreamingNetty.ReadThrottle throttle() {
        return throttle;
    }

    CompletableFuture<Void> closeFuture() {
        return closed;
    }

    /** The server's close frame status, -1 if none came. */
    int closeStatus() {
        return closeStatus;
    }

    String closeReason() {
        return closeReason;
    }

    List<String> protocolViolations() {
        return List.copyOf(violations);
    }

    /** Sends data on a channel, as messages of at most 64 KiB of data each (at least one, even if empty). */
    void send(int ch, byte[] data, int off, int len) throws IOException {
        do {
            int n = Math.min(len, StreamingNetty.MAX_WRITE_CHUNK);
            gate.await(channel);
            if (!channel.isActive()) {
                throw new IOException("connection closed");
            }
            WebSocketFrame frame;
            if (base64) {
                String text = (char) ('0' + ch) + Base64.getEncoder().encodeToString(
                        off == 0 && n == data.length ? data : Arrays.copyOfRange(data, off, off + n));
                frame = new TextWebSocketFrame(text);
            } else {
                ByteBuf buf = channel.alloc().buffer(n + 1).writeByte(ch).writeBytes(data, off, n);
                frame = new BinaryWebSocketFrame(buf);
            }
            channel.writeAndFlush(frame);
            off += n;
            len -= n;
        } while (len > 0);
    }

    /** The v5 close signal for a channel; only meaningful under v5.channel.k8s.io. */
    void sendCloseSignal(int ch) throws IOException {
        if (!channel.isActive()) {
            throw new IOException("connection closed");
        }
        channel.writeAndFlush(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(new byte[] {(byte) CLOSE_SIGNAL, (byte) ch})));
    }

    /** Close frame 1000, then drops the connection; waits up to 5 s for it to close. */
    @Override
    public void close() {
        if (channel.isActive() && closeSent.compareAndSet(false, true)) {
            channel.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
        } else {
            channel.close();
        }
        channel.closeFuture().awaitUninterruptibly(5000);
    }

    private final class Upgrade extends SimpleChannelInboundHandler<FullHttpResponse> {
        private final WebSocketClientHandshaker handshaker;

        Upgrade(WebSocketClientHandshaker handshaker) {
            this.handshaker = handshaker;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            handshaker.handshake(ctx.channel()).addListener(f -> {
                if (!f.isSuccess()) {
                    upgraded.completeExceptionally(new IOException("cannot send handshake: " + f.cause(), f.cause()));
                }
            });
            super.channelActive(ctx);
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse resp) {
            if (!resp.status().equals(HttpResponseStatus.SWITCHING_PROTOCOLS)) {
                Map<String, List<String>> headers = new LinkedHashMap<>();
                resp.headers().forEach(e -> headers.computeIfAbsent(e.getKey().toLowerCase(Locale.ROOT),
                        k -> new ArrayList<>()).add(e.getValue()));
                upgraded.completeExceptionally(new UpgradeRefusedException(url.toString(), resp.status().code(),
                        resp.status().reasonPhrase(), resp.content().toString(StandardCharsets.UTF_8), headers));
                ctx.close();
                return;
            }
            try {
                // Checks the accept key and that the chosen subprotocol is one offered; swaps in the WS codec.
                handshaker.finishHandshake(ctx.channel(), resp);
            } catch (RuntimeException e) {
                upgraded.completeExceptionally(new IOException("WebSocket handshake with " + url + " failed: "
                        + e.getMessage(), e));
                ctx.close();
                return;
            }
            String chosen = handshaker.actualSubprotocol();
            protocol = chosen == null ? "" : chosen;
            base64 = protocol.contains("base64");
            ChannelPipeline p = ctx.pipeline();
            p.addBefore(ctx.name(), "ws-aggregator", new WebSocketFrameAggregator(MAX_MESSAGE));
            p.addBefore(ctx.name(), "frames", new Frames());
            p.remove(this);
            upgraded.complete(protocol);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            upgraded.completeExceptionally(cause instanceof IOException ? cause : new IOException(cause));
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            upgraded.completeExceptionally(new IOException("connection closed before the upgrade response"));
            closed.complete(null);
            super.channelInactive(ctx);
        }
    }

    private final class Frames extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof BinaryWebSocketFrame f) {
                    onBinary(f.content());
                } else if (msg instanceof TextWebSocketFrame f) {
                    onText(f.text());
                } else if (msg instanceof PingWebSocketFrame f) {
                    ctx.writeAndFlush(new PongWebSocketFrame(f.content().retain()));
                } else if (msg instanceof PongWebSocketFrame) {
                    // no pings sent; ignore
                } else if (msg instanceof CloseWebSocketFrame f) {
                    closeStatus = f.statusCode();
                    closeReason = f.reasonText();
                    if (closeSent.compareAndSet(false, true)) {
                        ctx.writeAndFlush(new CloseWebSocketFrame(f.statusCode() == -1 ? 1000 : f.statusCode(), ""))
                                .addListener(ChannelFutureListener.CLOSE);
                    } else {
                        ctx.close();
                    }
                } else {
                    violation("unexpected message " + msg);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void onBinary(ByteBuf content) {
            if (base64) {
                violation("binary message under " + protocol);
            }
            if (!content.isReadable()) {
                violation("empty binary message (no channel byte)");
                return;
            }
            int ch = content.readUnsignedByte();
            if (ch == CLOSE_SIGNAL && protocol.startsWith("v5.")) {
                if (content.readableBytes() != 1) {
                    violation("close signal with " + content.readableBytes() + " bytes after 255");
                }
                if (content.isReadable()) {
                    listener.closeSignal(content.readUnsignedByte());
                }
                return;
            }
            listener.message(ch, ByteBufUtil.getBytes(content));
        }

        private void onText(String text) {
            if (!base64) {
                violation("text message under " + protocol + " (a Go client drops the connection)");
                return;
            }
            if (text.isEmpty()) {
                violation("empty text message (no channel digit)");
                return;
            }
            int ch = text.charAt(0) - '0';
            byte[] data;
            try {
                data = Base64.getDecoder().decode(text.substring(1));
            } catch (IllegalArgumentException e) {
                violation("bad base64 on channel " + ch + ": " + e.getMessage());
                return;
            }
            listener.message(ch, data);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
            gate.signal();
            super.channelWritabilityChanged(ctx);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (failure == null) {
                failure = cause;
            }
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            gate.signal();
            listener.closed(failure);
            closed.complete(null);
            super.channelInactive(ctx);
        }
    }

    private void violation(String what) {
        violations.add(what);
    }
}
