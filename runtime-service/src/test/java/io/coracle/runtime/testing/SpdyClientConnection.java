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
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.spdy.DefaultSpdyDataFrame;
import io.netty.handler.codec.spdy.DefaultSpdyGoAwayFrame;
import io.netty.handler.codec.spdy.DefaultSpdyPingFrame;
import io.netty.handler.codec.spdy.DefaultSpdyRstStreamFrame;
import io.netty.handler.codec.spdy.DefaultSpdySynStreamFrame;
import io.netty.handler.codec.spdy.SpdyDataFrame;
import io.netty.handler.codec.spdy.SpdyFrameCodec;
import io.netty.handler.codec.spdy.SpdyGoAwayFrame;
import io.netty.handler.codec.spdy.SpdyHeadersFrame;
import io.netty.handler.codec.spdy.SpdyPingFrame;
import io.netty.handler.codec.spdy.SpdyRstStreamFrame;
import io.netty.handler.codec.spdy.SpdySessionStatus;
import io.netty.handler.codec.spdy.SpdySettingsFrame;
import io.netty.handler.codec.spdy.SpdyStreamStatus;
import io.netty.handler.codec.spdy.SpdySynReplyFrame;
import io.netty.handler.codec.spdy.SpdySynStreamFrame;
import io.netty.handler.codec.spdy.SpdyVersion;
import io.netty.handler.codec.spdy.SpdyWindowUpdateFrame;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A SPDY/3.1 client session as the Kubernetes clients (client-go over moby/spdystream) speak it to a
 * streaming server, on Netty's SPDY frame codec but without Netty's session handler: spdystream does no
 * flow control (no SETTINGS, no WINDOW_UPDATE), so neither does this.
 *
 * <p>The upgrade is an HTTP/1.1 request (POST, as kubectl and crictl send it) with {@code Connection:
 * Upgrade}, {@code Upgrade: SPDY/3.1} and one {@code X-Stream-Protocol-Version} header per offered
 * protocol; the server's 101 names the chosen one in the same header (none means the unversioned
 * protocol). Then: client streams get odd ids 1, 3, 5...; each is opened with a SYN_STREAM carrying its
 * headers (lower-cased names, as the Go framer writes and requires) and usable once the server's
 * SYN_REPLY arrives; an empty DATA frame with FIN half-closes; RST_STREAM aborts. Server PINGs (even
 * ids) are echoed; this side's PINGs use odd ids. After GOAWAY no new streams are opened.
 *
 * <p>Low level on purpose: {@link RemoteCommandClient} and {@link PortForwardClient} build on it, and
 * tests may use it directly to probe a server's handling of odd stream sequences. Things a Go client
 * would silently drop or choke on are collected in {@link #protocolViolations()}.
 */
public final class SpdyClientConnection implements AutoCloseable {
    public static final String UPGRADE_PROTOCOL = "SPDY/3.1";
    public static final String PROTOCOL_VERSION_HEADER = "X-Stream-Protocol-Version";
    /** client-go waits this long for a SYN_REPLY (createStreamResponseTimeout). */
    public static final Duration DEFAULT_REPLY_TIMEOUT = Duration.ofSeconds(30);

    /** How a stream's inbound side ended. */
    public enum End { FIN, RESET_BY_PEER, RESET_LOCALLY, CONNECTION_CLOSED }

    /** Gets a stream's inbound data, on the connection's event loop; must not block. */
    public interface Receiver {
        void data(byte[] chunk);

        void end(End how);
    }

    private final URI url;
    private final String method;
    private final List<String> offered;
    private final StreamingNetty.WriteGate gate = new StreamingNetty.WriteGate();
    private final CompletableFuture<String> upgraded = new CompletableFuture<>();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private final List<String> violations = new CopyOnWriteArrayList<>();
    private final AtomicInteger serverPings = new AtomicInteger();
    private Channel channel;
    private String protocol;
    private Map<String, List<String>> upgradeHeaders;
    private final StreamingNetty.ReadThrottle throttle = new StreamingNetty.ReadThrottle();

    // event loop only
    private final Map<Integer, Stream> streams = new HashMap<>();
    private final Map<Integer, CompletableFuture<Void>> pings = new HashMap<>();
    private int nextStreamId = 1;
    private int nextPingId = 1;

    private volatile boolean goAway;
    private volatile Throwable failure;

    private SpdyClientConnection(URI url, String method, List<String> offered) {
        this.url = url;
        this.method = method;
        this.offered = List.copyOf(offered);
    }

    /** Upgrades a POST to {@code url}, offering {@code protocols} in preference order. */
    public static SpdyClientConnection connect(URI url, List<String> protocols) throws IOException {
        return connect(url, "POST", protocols);
    }

    /**
     * Upgrades a request with the given method (the kubelet's streaming server routes GET and POST).
     *
     * @throws UpgradeRefusedException if the server answers other than 101
     */
    public static SpdyClientConnection connect(URI url, String method, List<String> protocols) throws IOException {
        SpdyClientConnection c = new SpdyClientConnection(url, method, protocols);
        c.channel = StreamingNetty.connect(url, ch -> ch.pipeline()
                .addLast("http", new HttpClientCodec())
                .addLast("aggregator", new HttpObjectAggregator(1024 * 1024))
                .addLast("upgrade", c.new Upgrade()));
        c.throttle.bind(c.channel);
        c.protocol = StreamingNetty.awaitHandshake(c.channel, c.upgraded, url);
        return c;
    }

    /** The protocol the server chose; "" if its 101 named none. */
    public String protocol() {
        return protocol;
    }

    /** The 101 response's headers, names lower-cased. */
    public Map<String, List<String>> upgradeHeaders() {
        return upgradeHeaders;
    }

    public boolean isOpen() {
        return channel.isActive();
    }

    public boolean goAwayReceived() {
        return goAway;
    }

    /** Completes when the TCP connection has closed. */
    public CompletableFuture<Void> closeFuture() {
        return closed;
    }

    /** The exception that broke the connection, if one did. */
    public Throwable failure() {
        return failure;
    }

    /** Server behaviour a Go client would drop silently or choke on (DATA before SYN_REPLY, HEADERS frames...). */
    public List<String> protocolViolations() {
        return List.copyOf(violations);
    }

    /** How many server PINGs this side has echoed. */
    public int serverPingsAnswered() {
        return serverPings.get();
    }

    StreamingNetty.ReadThrottle throttle() {
        return throttle;
    }

    /**
     * Opens a stream: SYN_STREAM with {@code headers} (names lower-cased), then waits for the SYN_REPLY.
     * The receiver gets the stream's data from the moment the reply arrives.
     *
     * @throws IOException if the server resets the stream instead, the connection closes or goes away, or
     *     no reply comes within {@code replyTimeout} (the stream is then reset)
     */
    public Stream createStream(Map<String, String> headers, Receiver receiver, Duration replyTimeout) throws IOException {
        Stream s = new Stream(headers, receiver);
        channel.eventLoop().execute(() -> {
            if (closed.isDone() || !channel.isActive()) {
                s.reply.completeExceptionally(new IOException("connection to " + url + " is closed"
                        + (failure == null ? "" : ": " + failure.getMessage()), failure));
                return;
            }
            if (goAway) {
                s.reply.completeExceptionally(new IOException("server sent GOAWAY; no new streams"));
                return;
            }
            s.id = nextStreamId;
            nextStreamId += 2;
            streams.put(s.id, s);
            SpdySynStreamFrame syn = new DefaultSpdySynStreamFrame(s.id, 0, (byte) 0);
            headers.forEach((name, value) -> syn.headers().add(name.toLowerCase(Locale.ROOT), value));
            channel.writeAndFlush(syn).addListener(f -> {
                if (!f.isSuccess()) {
                    s.reply.completeExceptionally(new IOException("cannot send SYN_STREAM " + s.id + ": " + f.cause(), f.cause()));
                }
            });
        });
        try {
            return s.reply.get(replyTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            s.reset();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for SYN_REPLY");
        } catch (TimeoutException e) {
            s.reset();
            throw new IOException("no SYN_REPLY for stream " + s.id + " " + headers + " within " + replyTimeout);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
    }

    /** Sends a PING (odd id) and waits for the server to echo it; returns the round trip time. */
    public Duration ping(Duration timeout) throws IOException {
        CompletableFuture<Void> pong = new CompletableFuture<>();
        long start = System.nanoTime();
        channel.eventLoop().execute(() -> {
            if (!channel.isActive()) {
                pong.completeExceptionally(new IOException("connection closed"));
                return;
            }
            int id = nextPingId;
            nextPingId += 2;
            pings.put(id, pong);
            channel.writeAndFlush(new DefaultSpdyPingFrame(id));
        });
        try {
            pong.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return Duration.ofNanos(System.nanoTime() - start);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for PING reply");
        } catch (TimeoutException e) {
            throw new IOException("no PING reply within " + timeout);
        } catch (ExecutionException e) {
            throw new IOException("PING failed: " + e.getCause(), e.getCause());
        }
    }

    /** GOAWAY (as a Go client's Close sends), then drops the TCP connection; waits up to 5 s for it to close. */
    @Override
    public void close() {
        if (channel.isActive()) {
            channel.writeAndFlush(new DefaultSpdyGoAwayFrame(0, SpdySessionStatus.OK))
                    .addListener(ChannelFutureListener.CLOSE);
        }
        channel.closeFuture().awaitUninterruptibly(5000);
    }

    /** One client-initiated stream. Writes may come from any one thread at a time. */
    public final class Stream {
        private final Map<String, String> headers;
        private final Receiver receiver;
        private final CompletableFuture<Stream> reply = new CompletableFuture<>();
        private final AtomicBoolean localFinished = new AtomicBoolean();
        private volatile int id;
        private volatile boolean replied;
        private volatile Map<String, List<String>> replyHeaders = Map.of();
        private volatile End remoteEnd;
        private volatile boolean resetByPeer;

        private Stream(Map<String, String> headers, Receiver receiver) {
            this.headers = Map.copyOf(headers);
            this.receiver = receiver;
        }

        public int id() {
            return id;
        }

        public Map<String, String> headers() {
            return headers;
        }

        /** The SYN_REPLY's headers, names lower-cased. */
        public Map<String, List<String>> replyHeaders() {
            return replyHeaders;
        }

        /** How the server's side ended; null while it is open. */
        public End remoteEnd() {
            return remoteEnd;
        }

        public boolean isLocallyFinished() {
            return localFinished.get();
        }

        public void write(byte[] data) throws IOException {
            write(data, 0, data.length);
        }

        /** DATA frames of at most 64 KiB; blocks while the connection's outbound buffer is full. */
        public void write(byte[] data, int off, int len) throws IOException {
            while (true) {
                checkWritable();
                gate.await(channel);
                int n = Math.min(len, StreamingNetty.MAX_WRITE_CHUNK);
                ByteBuf buf = channel.alloc().buffer(n).writeBytes(data, off, n);
                channel.writeAndFlush(new DefaultSpdyDataFrame(id, buf));
                off += n;
                len -= n;
                if (len == 0) {
                    return;
                }
            }
        }

        private void checkWritable() throws IOException {
            if (resetByPeer) {
                throw new IOException("stream " + id + " was reset by the server");
            }
            if (localFinished.get()) {
                throw new IOException("stream " + id + " is closed for writing");
            }
            if (!channel.isActive()) {
                throw new IOException("connection closed");
            }
        }

        /** Half-closes: an empty DATA frame with FIN. Once only; later calls do nothing. */
        public void finish() throws IOException {
            if (resetByPeer || !localFinished.compareAndSet(false, true)) {
                return;
            }
            if (!channel.isActive()) {
                throw new IOException("connection closed");
            }
            SpdyDataFrame fin = new DefaultSpdyDataFrame(id, Unpooled.EMPTY_BUFFER);
            fin.setLast(true);
            channel.writeAndFlush(fin);
        }

        /** RST_STREAM CANCEL unless both sides have already ended; the receiver ends (RESET_LOCALLY). */
        public void reset() {
            boolean wasLocallyFinished = localFinished.getAndSet(true);
            channel.eventLoop().execute(() -> {
                if (id == 0 || resetByPeer || (wasLocallyFinished && remoteEnd != null)) {
                    return;
                }
                if (channel.isActive()) {
                    channel.writeAndFlush(new DefaultSpdyRstStreamFrame(id, SpdyStreamStatus.CANCEL));
                }
                remoteEnded(this, End.RESET_LOCALLY);
            });
        }

        @Override
        public String toString() {
            return "stream " + id + " " + headers;
        }
    }

    private void remoteEnded(Stream s, End how) {
        if (s.remoteEnd == null) {
            s.remoteEnd = how;
            s.receiver.end(how);
        }
    }

    private void violation(String what) {
        violations.add(what);
    }

    private static Map<String, List<String>> headerMap(SpdyHeadersFrame frame) {
        Map<String, List<String>> map = new LinkedHashMap<>();
        for (Map.Entry<CharSequence, CharSequence> e : frame.headers()) {
            map.computeIfAbsent(e.getKey().toString(), k -> new ArrayList<>()).add(e.getValue().toString());
        }
        return map;
    }

    /** The HTTP/1.1 upgrade; on 101 swaps the HTTP codec for the SPDY codec and the session handler. */
    private final class Upgrade extends SimpleChannelInboundHandler<FullHttpResponse> {
        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            DefaultFullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(method),
                    StreamingNetty.requestTarget(url), Unpooled.EMPTY_BUFFER);
            req.headers().set(HttpHeaderNames.HOST, StreamingNetty.hostHeader(url));
            req.headers().set(HttpHeaderNames.CONNECTION, "Upgrade");
            req.headers().set(HttpHeaderNames.UPGRADE, UPGRADE_PROTOCOL);
            for (String p : offered) {
                req.headers().add(PROTOCOL_VERSION_HEADER, p);
            }
            req.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
            ctx.writeAndFlush(req).addListener(f -> {
                if (!f.isSuccess()) {
                    upgraded.completeExceptionally(new IOException("cannot send upgrade request: " + f.cause(), f.cause()));
                }
            });
            super.channelActive(ctx);
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse resp) {
            Map<String, List<String>> headers = new LinkedHashMap<>();
            resp.headers().forEach(e -> headers.computeIfAbsent(e.getKey().toLowerCase(Locale.ROOT),
                    k -> new ArrayList<>()).add(e.getValue()));
            if (!resp.status().equals(HttpResponseStatus.SWITCHING_PROTOCOLS)) {
                upgraded.completeExceptionally(new UpgradeRefusedException(url.toString(), resp.status().code(),
                        resp.status().reasonPhrase(), resp.content().toString(StandardCharsets.UTF_8), headers));
                ctx.close();
                return;
            }
            String connection = resp.headers().get(HttpHeaderNames.CONNECTION, "").toLowerCase(Locale.ROOT);
            String upgrade = resp.headers().get(HttpHeaderNames.UPGRADE, "").toLowerCase(Locale.ROOT);
            if (!connection.contains("upgrade") || !upgrade.contains(UPGRADE_PROTOCOL.toLowerCase(Locale.ROOT))) {
                upgraded.completeExceptionally(new IOException("101 without Connection: Upgrade / Upgrade: SPDY/3.1 "
                        + "(a Go client refuses it): " + headers));
                ctx.close();
                return;
            }
            String chosen = resp.headers().get(PROTOCOL_VERSION_HEADER, "");
            if (!chosen.isEmpty() && !offered.contains(chosen)) {
                upgraded.completeExceptionally(new IOException("server chose " + chosen + ", not one of " + offered));
                ctx.close();
                return;
            }
            upgradeHeaders = headers;
            ChannelPipeline p = ctx.pipeline();
            // Bytes that came with the 101 (the server may PING at once) flow from the HTTP codec into the SPDY codec.
            p.addAfter("http", "sniffer", new Sniffer());
            p.addAfter("sniffer", "spdy", new SpdyFrameCodec(SpdyVersion.SPDY_3_1, 64 * 1024, 64 * 1024, 6, 15, 8, true));
            p.addAfter("spdy", "session", new Session());
            p.remove("aggregator");
            p.remove(this);
            p.remove("http");
            upgraded.complete(chosen);
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

    /**
     * Watches the raw frame headers for what Netty's decoder accepts but Go's framer cannot read: a
     * SYN_REPLY or HEADERS frame whose header block is empty (length 4, the stream id only). Go's
     * readSynReplyFrame always inflates a block, gets EOF and drops the connection. Netty's encoder
     * writes exactly that for a frame without headers, so a Netty server must put at least one header
     * in its SYN_REPLYs (or write the block itself). This side then fails the same way a Go client does.
     */
    private final class Sniffer extends ChannelInboundHandlerAdapter {
        private final byte[] header = new byte[8];
        private int filled;
        private long skip;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
            if (msg instanceof ByteBuf buf) {
                String bad = inspect(buf);
                if (bad != null) {
                    buf.release();
                    failure = new IOException(bad);
                    violation(bad);
                    ctx.close();
                    return;
                }
            }
            ctx.fireChannelRead(msg);
        }

        private String inspect(ByteBuf buf) {
            for (int i = buf.readerIndex(), end = buf.writerIndex(); i < end; ) {
                if (skip > 0) {
                    int n = (int) Math.min(skip, end - i);
                    i += n;
                    skip -= n;
                    continue;
                }
                header[filled++] = buf.getByte(i++);
                if (filled < 8) {
                    continue;
                }
                filled = 0;
                skip = ((header[5] & 0xff) << 16) | ((header[6] & 0xff) << 8) | (header[7] & 0xff);
                boolean control = (header[0] & 0x80) != 0;
                int type = ((header[2] & 0xff) << 8) | (header[3] & 0xff);
                if (control && (type == 2 || type == 8) && skip == 4) {
                    return (type == 2 ? "SYN_REPLY" : "HEADERS") + " frame with an empty header block: Go's spdy "
                            + "framer (moby/spdystream) cannot inflate it and drops the connection; even a reply "
                            + "without headers must carry the compressed header count (Netty's encoder writes an "
                            + "empty block when a frame has no headers)";
                }
            }
            return null;
        }
    }

    /** The frame handler. Everything here runs on the event loop. */
    private final class Session extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof SpdySynReplyFrame f) {
                    onReply(ctx, f);
                } else if (msg instanceof SpdyDataFrame f) {
                    onData(f);
                } else if (msg instanceof SpdyRstStreamFrame f) {
                    onReset(f);
                } else if (msg instanceof SpdyPingFrame f) {
                    onPing(ctx, f);
                } else if (msg instanceof SpdyGoAwayFrame f) {
                    onGoAway(f);
                } else if (msg instanceof SpdySynStreamFrame f) {
                    violation("server opened stream " + f.streamId() + " " + headerMap(f) + "; refused");
                    ctx.writeAndFlush(new DefaultSpdyRstStreamFrame(f.streamId(), SpdyStreamStatus.REFUSED_STREAM));
                } else if (msg instanceof SpdyHeadersFrame f) {
                    violation("HEADERS frame on stream " + f.streamId() + " (spdystream hands it to a reader no k8s "
                            + "client has, blocking a frame worker)");
                } else if (msg instanceof SpdySettingsFrame || msg instanceof SpdyWindowUpdateFrame) {
                    // spdystream ignores these too
                } else {
                    violation("unexpected message " + msg);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void onReply(ChannelHandlerContext ctx, SpdySynReplyFrame f) {
            Stream s = streams.get(f.streamId());
            if (s == null) {
                violation("SYN_REPLY for unknown stream " + f.streamId());
                return;
            }
            if (f.isInvalid()) {
                failure = new IOException("SYN_REPLY for stream " + f.streamId()
                        + " has an invalid header block (a Go client drops the connection)");
                violation(failure.getMessage());
                ctx.close();
                return;
            }
            if (s.replied) {
                violation("second SYN_REPLY for stream " + s.id);
                return;
            }
            s.replyHeaders = headerMap(f);
            s.replied = true;
            s.reply.complete(s);
            if (f.isLast()) {
                remoteEnded(s, End.FIN);
            }
        }

        private void onData(SpdyDataFrame f) {
            Stream s = streams.get(f.streamId());
            if (s == null) {
                violation("DATA for unknown stream " + f.streamId());
                return;
            }
            if (!s.replied) {
                violation("DATA before SYN_REPLY on stream " + s.id + " (spdystream drops it)");
                return;
            }
            if (s.remoteEnd != null) {
                if (s.remoteEnd == End.FIN) {
                    violation("DATA after FIN on stream " + s.id);
                }
                return;
            }
            ByteBuf content = f.content();
            if (content.isReadable()) {
                s.receiver.data(ByteBufUtil.getBytes(content));
            }
            if (f.isLast()) {
                remoteEnded(s, End.FIN);
            }
        }

        private void onReset(SpdyRstStreamFrame f) {
            Stream s = streams.get(f.streamId());
            if (s == null) {
                return;
            }
            s.resetByPeer = true;
            s.localFinished.set(true);
            if (!s.replied) {
                s.reply.completeExceptionally(new IOException("server reset stream " + s.id + " " + s.headers
                        + " (" + f.status() + ") instead of replying"));
            }
            remoteEnded(s, End.RESET_BY_PEER);
        }

        private void onPing(ChannelHandlerContext ctx, SpdyPingFrame f) {
            if ((f.id() & 1) == 0) {
                serverPings.incrementAndGet();
                ctx.writeAndFlush(new DefaultSpdyPingFrame(f.id()));
                return;
            }
            CompletableFuture<Void> pong = pings.remove(f.id());
            if (pong == null) {
                violation("PING " + f.id() + " with an odd id this side never sent");
            } else {
                pong.complete(null);
            }
        }

        private void onGoAway(SpdyGoAwayFrame f) {
            goAway = true;
            for (Stream s : streams.values()) {
                if (!s.replied && s.id > f.lastGoodStreamId()) {
                    s.reply.completeExceptionally(new IOException("server sent GOAWAY (last good stream "
                            + f.lastGoodStreamId() + ", " + f.status() + ") before replying to stream " + s.id));
                }
            }
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
            for (Stream s : streams.values()) {
                if (!s.replied) {
                    s.reply.completeExceptionally(new IOException("connection closed before SYN_REPLY for stream " + s.id
                            + (failure == null ? "" : ": " + failure.getMessage()), failure));
                }
                remoteEnded(s, End.CONNECTION_CLOSED);
            }
            pings.values().forEach(p -> p.completeExceptionally(new IOException("connection closed")));
            pings.clear();
            gate.signal();
            closed.complete(null);
            super.channelInactive(ctx);
        }
    }
}
