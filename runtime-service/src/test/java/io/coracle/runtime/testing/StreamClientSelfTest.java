package io.coracle.runtime.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshaker;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshakerFactory;
import io.netty.handler.codec.spdy.DefaultSpdyDataFrame;
import io.netty.handler.codec.spdy.DefaultSpdyGoAwayFrame;
import io.netty.handler.codec.spdy.DefaultSpdyPingFrame;
import io.netty.handler.codec.spdy.DefaultSpdyRstStreamFrame;
import io.netty.handler.codec.spdy.DefaultSpdySynReplyFrame;
import io.netty.handler.codec.spdy.SpdyDataFrame;
import io.netty.handler.codec.spdy.SpdyFrameCodec;
import io.netty.handler.codec.spdy.SpdyGoAwayFrame;
import io.netty.handler.codec.spdy.SpdyPingFrame;
import io.netty.handler.codec.spdy.SpdyRstStreamFrame;
import io.netty.handler.codec.spdy.SpdyStreamStatus;
import io.netty.handler.codec.spdy.SpdySynStreamFrame;
import io.netty.handler.codec.spdy.SpdyVersion;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.zip.Deflater;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Proves the streaming clients against a small in-test peer that speaks the server side of the
 * protocols as the kubelet's streaming server does (SPDY/3.1 via Netty's frame codec, WebSocket via
 * Netty's handshaker). The peer's "command" echoes stdin to stdout (and "E:"-prefixed to stderr),
 * reports resizes on stdout, and ends on stdin close (or a line "exit") with the status its token names:
 * exit3 (exit code 3), ok, fail ("boom"). Port forwarding echoes every port except 666 (refused, an
 * error-stream text) and 667 (data stream reset).
 */
class StreamClientSelfTest {
    private static final Duration T = Duration.ofSeconds(10);
    private static Peer peer;

    @BeforeAll
    static void startPeer() throws Exception {
        peer = new Peer();
    }

    @AfterAll
    static void stopPeer() {
        peer.close();
    }

    @Test
    void spdyExecEchoesAndReportsTheExitCode() throws Exception {
        try (RemoteCommandSession s = RemoteCommandClient.connect(peer.url("/exec/exit3-spdy"), StreamTransport.SPDY,
                true, true, true, false)) {
            assertEquals("v4.channel.k8s.io", s.protocol(), "v5 offered first, the peer (like the kubelet) has v4..v1");
            s.writeStdin("hello\n");
            assertTrue(s.awaitStdout("hello\n"::equals, T), s.stdoutText());
            assertTrue(s.awaitStderr("E:hello\n"::equals, T), s.stderrText());
            s.closeStdin();
            ExitStatus exit = s.awaitExit(T);
            assertEquals(ExitStatus.Kind.EXIT_CODE, exit.kind(), exit.toString());
            assertEquals(3, exit.exitCode());
            assertTrue(exit.raw().contains("\"NonZeroExitCode\""), exit.raw());
            assertTrue(exit.reported());
            assertEquals(List.of(), s.protocolViolations());
        }
        PeerConn c = peer.conn("/exec/exit3-spdy");
        assertEquals("POST", c.method);
        assertEquals("Upgrade", c.headers.get("connection").getFirst());
        assertEquals("SPDY/3.1", c.headers.get("upgrade").getFirst());
        assertEquals(RemoteCommandClient.SPDY_PROTOCOLS, c.headers.get("x-stream-protocol-version"),
                "one X-Stream-Protocol-Version header per protocol, in preference order");
        assertEquals(List.of("SYN_STREAM 1 {streamtype=error}", "SYN_STREAM 3 {streamtype=stdin}",
                "SYN_STREAM 5 {streamtype=stdout}", "SYN_STREAM 7 {streamtype=stderr}"), c.events("SYN_STREAM"));
        assertTrue(c.awaitEvent("PING-REPLY 2"::equals), "server PING echoed: " + c.events);
        assertTrue(c.awaitEvent("FIN 3"::equals), "stdin half-closed: " + c.events);
    }

    @Test
    void spdyTtyHasAResizeStreamAndNoStderr() throws Exception {
        try (RemoteCommandSession s = RemoteCommandClient.connect(peer.url("/exec/ok-tty"), StreamTransport.SPDY,
                true, true, true, true)) {
            s.resize(80, 24);
            assertTrue(s.awaitStdout(o -> o.contains("resize:80x24\n"), T), s.stdoutText());
            s.writeStdin("x\n");
            assertTrue(s.awaitStdout(o -> o.endsWith("x\n"), T), s.stdoutText());
            s.closeStdin();
            ExitStatus exit = s.awaitExit(T);
            assertTrue(exit.isSuccess(), exit.toString());
            assertEquals("{\"status\":\"Success\"}", exit.raw());
        }
        PeerConn c = peer.conn("/exec/ok-tty");
        assertEquals(List.of("SYN_STREAM 1 {streamtype=error}", "SYN_STREAM 3 {streamtype=stdin}",
                "SYN_STREAM 5 {streamtype=stdout}", "SYN_STREAM 7 {streamtype=resize}"), c.events("SYN_STREAM"));
        assertEquals(List.of("RESIZE {\"Width\":80,\"Height\":24}\n"), c.events("RESIZE"));
    }

    @Test
    void spdyOldProtocolsCarryAnErrorText() throws Exception {
        try (RemoteCommandSession s = RemoteCommandClient.connect(peer.url("/exec/fail-v2"), StreamTransport.SPDY,
                List.of("v2.channel.k8s.io", "channel.k8s.io"), true, true, false, true)) {
            assertEquals("v2.channel.k8s.io", s.protocol());
            assertThrows(IllegalStateException.class, () -> s.resize(1, 1), "no resize stream before v3");
            s.closeStdin();
            ExitStatus exit = s.awaitExit(T);
            assertEquals(ExitStatus.Kind.FAILURE, exit.kind());
            assertEquals("error executing remote command: boom", exit.message());
        }
        assertEquals(List.of("SYN_STREAM 1 {streamtype=error}", "SYN_STREAM 3 {streamtype=stdin}",
                "SYN_STREAM 5 {streamtype=stdout}"), peer.conn("/exec/fail-v2").events("SYN_STREAM"));
    }

    @Test
    void spdyUpgradeRefusals() {
        UpgradeRefusedException notFound = assertThrows(UpgradeRefusedException.class, () ->
                RemoteCommandClient.connect(peer.url("/exec/bad"), StreamTransport.SPDY, true, true, true, false));
        assertEquals(404, notFound.statusCode());
        UpgradeRefusedException noProtocol = assertThrows(UpgradeRefusedException.class, () ->
                RemoteCommandClient.connect(peer.url("/exec/ok-v9"), StreamTransport.SPDY, List.of("v9.channel.k8s.io"),
                        true, true, true, false));
        assertEquals(403, noProtocol.statusCode());
        assertEquals(Peer.SPDY_EXEC_PROTOCOLS, noProtocol.headers().get("x-accepted-stream-protocol-versions"));
    }

    @Test
    void spdyReplyWithAnEmptyHeaderBlockFailsAsInGo() {
        IOException e = assertThrows(IOException.class, () -> RemoteCommandClient.connect(
                peer.url("/exec/ok-nettyreply"), StreamTransport.SPDY, true, true, true, false));
        assertTrue(e.getMessage().contains("empty header block"), e.getMessage());
    }

    @Test
    void webSocketV5ClosesStdinWithTheCloseSignal() throws Exception {
        try (RemoteCommandSession s = RemoteCommandClient.connect(peer.url("/exec/exit3-ws5"), StreamTransport.WEBSOCKET,
                true, true, true, false)) {
            assertEquals("v5.channel.k8s.io", s.protocol());
            assertTrue(s.canCloseStdin());
            s.writeStdin("hello\n");
            assertTrue(s.awaitStdout("hello\n"::equals, T), s.stdoutText());
            assertTrue(s.awaitStderr("E:hello\n"::equals, T), s.stderrText());
            s.closeStdin();
            ExitStatus exit = s.awaitExit(T);
            assertEquals(ExitStatus.Kind.EXIT_CODE, exit.kind(), exit.toString());
            assertEquals(3, exit.exitCode());
            assertEquals(List.of(), s.protocolViolations());
        }
        PeerConn c = peer.conn("/exec/exit3-ws5");
        assertEquals("GET", c.method);
        assertEquals(List.of("v5.channel.k8s.io, v4.channel.k8s.io"), c.headers.get("sec-websocket-protocol"));
        assertNull(c.headers.get("origin"), "gorilla/websocket sends no Origin");
        assertEquals(List.of("CLOSE-SIGNAL 0"), c.events("CLOSE-SIGNAL"));
    }

    @Test
    void webSocketV4Base64UsesTextFramesAndCannotCloseStdin() throws Exception {
        try (RemoteCommandSession s = RemoteCommandClient.connect(peer.url("/exec/exit3-b64"), StreamTransport.WEBSOCKET,
                List.of("v4.base64.channel.k8s.io"), true, true, false, true)) {
            assertEquals("v4.base64.channel.k8s.io", s.protocol());
            assertFalse(s.canCloseStdin());
            assertThrows(IllegalStateException.class, s::closeStdin);
            s.resize(100, 50);
            assertTrue(s.awaitStdout(o -> o.contains("resize:100x50\n"), T), s.stdoutText());
            byte[] binary = {0, 1, 2, (byte) 0xff, '\n'};
            s.writeStdin(binary);
            assertTrue(s.awaitStdout(o -> o.endsWith(new String(binary, StandardCharsets.UTF_8)), T));
            s.writeStdin("exit\n");
            ExitStatus exit = s.awaitExit(T);
            assertEquals(3, exit.exitCode(), exit.toString());
            assertEquals(List.of(), s.protocolViolations());
        }
        PeerConn c = peer.conn("/exec/exit3-b64");
        assertTrue(c.events.contains("TEXT 4"), "resize as a text frame on channel 4: " + c.events);
        assertFalse(c.events.contains("BINARY"), c.events.toString());
    }

    @Test
    void webSocketOldBase64ProtocolCarriesAnErrorText() throws Exception {
        try (RemoteCommandSession s = RemoteCommandClient.connect(peer.url("/exec/fail-b64v1"), StreamTransport.WEBSOCKET,
                List.of("base64.channel.k8s.io"), true, true, true, false)) {
            s.writeStdin("exit\n");
            ExitStatus exit = s.awaitExit(T);
            assertEquals(ExitStatus.Kind.FAILURE, exit.kind());
            assertEquals("boom", exit.raw());
        }
    }

    @Test
    void webSocketRefusal() {
        UpgradeRefusedException e = assertThrows(UpgradeRefusedException.class, () ->
                RemoteCommandClient.connect(peer.url("/exec/bad"), StreamTransport.WEBSOCKET, true, true, true, false));
        assertEquals(404, e.statusCode());
    }

    @Test
    void spdyPortForward() throws Exception {
        try (PortForwardClient pf = PortForwardClient.connectSpdy(peer.url("/portforward/spdy"))) {
            assertEquals("portforward.k8s.io", pf.protocol());
            PortForwardStream a = pf.open(80);
            PortForwardStream b = pf.open(81);
            a.output().write("to a".getBytes(StandardCharsets.UTF_8));
            b.output().write("to b".getBytes(StandardCharsets.UTF_8));
            b.output().close();
            a.output().close();
            assertEquals("to a", new String(a.input().readAllBytes(), StandardCharsets.UTF_8), "echo, then EOF on FIN");
            assertEquals("to b", new String(b.input().readAllBytes(), StandardCharsets.UTF_8));
            assertEquals("", a.awaitError(T));
            assertFalse(a.wasReset());

            PortForwardStream refused = pf.open(666);
            assertEquals("refused port 666", refused.awaitError(T));
            assertEquals(-1, refused.input().read());

            PortForwardStream reset = pf.open(667);
            assertEquals(-1, reset.input().read());
            assertTrue(reset.wasReset());
            assertThrows(IOException.class, () -> reset.output().write(1));

            assertTrue(pf.ping(T).toMillis() < T.toMillis());
            assertEquals(List.of(), pf.connection().protocolViolations());
            List.of(a, b, refused, reset).forEach(PortForwardStream::close);
        }
        PeerConn c = peer.conn("/portforward/spdy");
        assertTrue(c.awaitEvent("GOAWAY"::equals), "GOAWAY on close: " + c.events);
        assertEquals(List.of(), c.events("RST"), "nothing left to reset when both sides had finished");
        assertEquals(List.of("portforward.k8s.io"), c.headers.get("x-stream-protocol-version"));
        List<String> syns = c.events("SYN_STREAM");
        assertEquals("SYN_STREAM 1 {port=80, requestid=0, streamtype=error}", syns.get(0));
        assertEquals("SYN_STREAM 3 {port=80, requestid=0, streamtype=data}", syns.get(1));
        assertEquals("SYN_STREAM 5 {port=81, requestid=1, streamtype=error}", syns.get(2));
        assertEquals("SYN_STREAM 15 {port=667, requestid=3, streamtype=data}", syns.get(7));
        assertTrue(c.events.indexOf("FIN 1") < c.events.indexOf("SYN_STREAM 3 {port=80, requestid=0, streamtype=data}"),
                "the error stream is half-closed before the data stream opens: " + c.events);
    }

    @Test
    void spdyPortForwardMovesManyMegabytes() throws Exception {
        int total = 64 * 1024 * 1024;
        try (PortForwardClient pf = PortForwardClient.connectSpdy(peer.url("/portforward/bulk"))) {
            PortForwardStream s = pf.open(8080);
            double seconds = pump(s, total);
            System.out.printf("SPDY port-forward echo: %d MiB each way in %.2f s (%.0f MiB/s)%n",
                    total >> 20, seconds, (total >> 20) / seconds);
            assertEquals("", s.awaitError(T));
        }
    }

    @Test
    void spdyPortForwardHoldsBackAnIdleReader() throws Exception {
        byte[] data = new byte[24 * 1024 * 1024];
        new Random(5).nextBytes(data);
        try (PortForwardClient pf = PortForwardClient.connectSpdy(peer.url("/portforward/idle"))) {
            PortForwardStream s = pf.open(8080);
            s.output().write(data); // the echo piles up: this side stops reading at 8 MiB unread
            s.output().close();
            Thread.sleep(200);
            assertArrayEquals(data, s.input().readAllBytes(), "resumed reading as the reader caught up");
        }
    }

    @Test
    void webSocketPortForward() throws Exception {
        List<PortForwardStream> streams = PortForwardClient.connectWebSocket(peer.url("/portforward/ws"), 80, 666);
        PortForwardStream echo = streams.get(0);
        PortForwardStream refused = streams.get(1);
        assertFalse(echo.supportsHalfClose());
        echo.output().write("hi".getBytes(StandardCharsets.UTF_8));
        assertEquals("hi", new String(echo.input().readNBytes(2), StandardCharsets.UTF_8));
        assertTrue(awaitTrue(() -> refused.errorText().equals("refused port 666")), refused.errorText());
        echo.output().close(); // local only
        echo.close();
        refused.close(); // the last one closes the connection
        PeerConn c = peer.conn("/portforward/ws?port=80&port=666");
        assertEquals(List.of("v4.channel.k8s.io"), c.headers.get("sec-websocket-protocol"));
        assertTrue(c.awaitEvent("CLOSE 1000"::equals), c.events.toString());

        PortForwardStream bye = PortForwardClient.connectWebSocket(peer.url("/portforward/bye"), 999).getFirst();
        assertEquals("bye", new String(bye.input().readAllBytes(), StandardCharsets.UTF_8), "EOF when the server closes");
        assertEquals("", bye.awaitError(T));
        bye.close();
    }

    @Test
    void webSocketBase64PortForwardMovesData() throws Exception {
        List<PortForwardStream> streams = PortForwardClient.connectWebSocket(peer.url("/portforward/wsb64"),
                List.of(PortForwardClient.WEBSOCKET_BASE64_PROTOCOL), 8080);
        try (PortForwardStream s = streams.getFirst()) {
            byte[] data = new byte[300_000];
            new Random(7).nextBytes(data);
            s.output().write(data);
            assertArrayEquals(data, s.input().readNBytes(data.length));
        }
    }

    /** Writes {@code total} pseudo-random bytes and reads the echo on another thread; returns seconds. */
    private static double pump(PortForwardStream s, int total) throws Exception {
        long start = System.nanoTime();
        FutureTask<byte[]> reader = new FutureTask<>(() -> {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[256 * 1024];
            long n = 0;
            for (int r; (r = s.input().read(buf)) != -1; n += r) {
                md.update(buf, 0, r);
            }
            assertEquals(total, n);
            return md.digest();
        });
        Thread t = Thread.ofPlatform().daemon().start(reader);
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        byte[] chunk = new byte[128 * 1024];
        Random random = new Random(42);
        try (OutputStream out = s.output()) {
            for (int sent = 0; sent < total; sent += chunk.length) {
                random.nextBytes(chunk);
                md.update(chunk);
                out.write(chunk);
            }
        }
        assertArrayEquals(md.digest(), ((Future<byte[]>) reader).get(60, TimeUnit.SECONDS));
        t.join();
        return (System.nanoTime() - start) / 1e9;
    }

    private static boolean awaitTrue(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + T.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(10);
        }
        return true;
    }

    // ------------------------------------------------------------------------------------------------
    // The peer

    /** What the peer saw on one connection. */
    static final class PeerConn {
        final String method;
        final String uri;
        final Map<String, List<String>> headers = new LinkedHashMap<>();
        final List<String> events = new CopyOnWriteArrayList<>();

        PeerConn(FullHttpRequest req) {
            method = req.method().name();
            uri = req.uri();
            req.headers().forEach(e -> headers.computeIfAbsent(e.getKey().toLowerCase(Locale.ROOT),
                    k -> new ArrayList<>()).add(e.getValue()));
        }

        List<String> events(String prefix) {
            return events.stream().filter(e -> e.startsWith(prefix)).toList();
        }

        boolean awaitEvent(Predicate<String> p) throws InterruptedException {
            return awaitTrue(() -> events.stream().anyMatch(p));
        }
    }

    static final class Peer implements AutoCloseable {
        static final List<String> SPDY_EXEC_PROTOCOLS =
                List.of("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io");
        static final String WS_EXEC_PROTOCOLS = "v5.channel.k8s.io,v4.channel.k8s.io,v4.base64.channel.k8s.io,"
                + "base64.channel.k8s.io,channel.k8s.io";
        static final String WS_PORTFORWARD_PROTOCOLS = "v4.channel.k8s.io,v4.base64.channel.k8s.io";
        private static final ObjectMapper JSON = new ObjectMapper();

        final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        final Map<String, PeerConn> conns = new ConcurrentHashMap<>();
        final Channel server;

        Peer() throws InterruptedException {
            server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast("http", new HttpServerCodec())
                                    .addLast("agg", new HttpObjectAggregator(65536))
                                    .addLast("router", new Router());
                        }
                    })
                    .bind("127.0.0.1", 0).sync().channel();
        }

        URI url(String pathAndQuery) {
            return URI.create("http://127.0.0.1:" + ((InetSocketAddress) server.localAddress()).getPort() + pathAndQuery);
        }

        PeerConn conn(String uri) {
            PeerConn c = conns.get(uri);
            if (c == null) {
                throw new AssertionError("peer saw no request for " + uri + "; saw " + conns.keySet());
            }
            return c;
        }

        @Override
        public void close() {
            server.close().syncUninterruptibly();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }

        private final class Router extends SimpleChannelInboundHandler<FullHttpRequest> {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
                PeerConn conn = new PeerConn(req);
                conns.put(req.uri(), conn);
                QueryStringDecoder q = new QueryStringDecoder(req.uri());
                String[] parts = q.path().split("/");
                if (parts.length != 3 || parts[2].equals("bad")) {
                    respond(ctx, HttpResponseStatus.NOT_FOUND, "not found", Map.of());
                    return;
                }
                boolean exec = parts[1].equals("exec");
                String token = parts[2];
                if ("websocket".equalsIgnoreCase(req.headers().get(HttpHeaderNames.UPGRADE))) {
                    WebSocketServerHandshaker hs = new WebSocketServerHandshakerFactory(
                            "ws://" + req.headers().get(HttpHeaderNames.HOST) + q.path(),
                            exec ? WS_EXEC_PROTOCOLS : WS_PORTFORWARD_PROTOCOLS, false, 16 * 1024 * 1024)
                            .newHandshaker(req);
                    var handshake = hs.handshake(ctx.channel(), req);
                    WsPeer ws = new WsPeer(conn, exec, token, q.parameters().getOrDefault("port", List.of()),
                            ctx.channel(), hs.selectedSubprotocol());
                    ctx.pipeline().replace(this, "ws-peer", ws);
                    handshake.addListener(f -> {
                        if (f.isSuccess()) {
                            ws.start();
                        }
                    });
                    return;
                }
                List<String> offered = new ArrayList<>();
                for (String v : req.headers().getAll("X-Stream-Protocol-Version")) {
                    for (String p : v.split(",")) {
                        if (!p.isBlank()) {
                            offered.add(p.strip());
                        }
                    }
                }
                List<String> supported = exec ? SPDY_EXEC_PROTOCOLS : List.of("portforward.k8s.io");
                String chosen = offered.stream().filter(supported::contains).findFirst().orElse(null);
                if (chosen == null) {
                    respond(ctx, HttpResponseStatus.FORBIDDEN, "unable to negotiate protocol",
                            Map.of("X-Accepted-Stream-Protocol-Versions", supported));
                    return;
                }
                FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                        HttpResponseStatus.SWITCHING_PROTOCOLS);
                resp.headers().set(HttpHeaderNames.CONNECTION, "Upgrade").set(HttpHeaderNames.UPGRADE, "SPDY/3.1")
                        .set("X-Stream-Protocol-Version", chosen);
                ctx.write(resp); // flushed with the PING below: the client gets SPDY bytes in the same read as the 101
                ChannelPipeline p = ctx.pipeline();
                p.addAfter("http", "spdy", new SpdyFrameCodec(SpdyVersion.SPDY_3_1));
                p.addAfter("spdy", "spdy-peer", new SpdyPeer(conn, exec, token, chosen));
                p.remove("agg");
                p.remove(this);
                p.remove("http");
                p.context("spdy-peer").writeAndFlush(new DefaultSpdyPingFrame(2)); // the client must echo it
            }

            private void respond(ChannelHandlerContext ctx, HttpResponseStatus status, String body,
                    Map<String, List<String>> headers) {
                FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                        Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
                resp.headers().set(HttpHeaderNames.CONTENT_LENGTH, resp.content().readableBytes());
                headers.forEach((k, v) -> resp.headers().add(k, v));
                ctx.writeAndFlush(resp).addListener(ChannelFutureListener.CLOSE);
            }
        }

        /** The status the command's token asks for, as the protocol carries it; empty for none. */
        static byte[] status(String token, String protocol) {
            boolean json = protocol.startsWith("v4.") || protocol.startsWith("v5.");
            String s;
            if (token.startsWith("exit3")) {
                s = json ? "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with non-zero exit "
                        + "code: exit status 3\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":"
                        + "\"ExitCode\",\"message\":\"3\"}]}}" : "command terminated with non-zero exit code: exit status 3";
            } else if (token.startsWith("fail")) {
                s = json ? "{\"status\":\"Failure\",\"message\":\"boom\",\"reason\":\"InternalError\"}" : "boom";
            } else {
                s = json ? "{\"status\":\"Success\"}" : "";
            }
            return s.getBytes(StandardCharsets.UTF_8);
        }

        static byte[] resizeText(byte[] json) {
            String text;
            try {
                JsonNode n = JSON.readTree(json);
                text = "resize:" + n.get("Width").asInt() + "x" + n.get("Height").asInt() + "\n";
            } catch (IOException e) {
                text = "bad resize " + new String(json, StandardCharsets.UTF_8) + "\n";
            }
            return text.getBytes(StandardCharsets.UTF_8);
        }
    }

    /**
     * The SPDY side. Replies as Go's spdystream does: a SYN_REPLY without headers, whose header block is
     * still a zlib block holding a zero header count (written here by hand, since Netty's encoder would
     * write an empty block, which Go cannot read; token "nettyreply" does exactly that to prove the
     * client notices).
     */
    static final class SpdyPeer extends ChannelInboundHandlerAdapter {
        private static final byte[] SPDY_DICT;

        static {
            try {
                var f = Class.forName("io.netty.handler.codec.spdy.SpdyCodecUtil").getDeclaredField("SPDY_DICT");
                f.setAccessible(true);
                SPDY_DICT = (byte[]) f.get(null);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        private final PeerConn conn;
        private final boolean exec;
        private final String token;
        private final String protocol;
        private final Deflater deflater = new Deflater();
        private final Map<Integer, Map<String, String>> streams = new HashMap<>();
        private final Map<String, Integer> execStreams = new HashMap<>(); // streamtype -> id
        private final Map<String, Integer> errorStreams = new HashMap<>(); // port-forward requestid -> error stream id
        private final StringBuilder stdin = new StringBuilder();
        private int lastId;
        private boolean finished;

        SpdyPeer(PeerConn conn, boolean exec, String token, String protocol) {
            this.conn = conn;
            this.exec = exec;
            this.token = token;
            this.protocol = protocol;
            deflater.setDictionary(SPDY_DICT);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof SpdySynStreamFrame f) {
                    onSyn(ctx, f);
                } else if (msg instanceof SpdyDataFrame f) {
                    onData(ctx, f);
                } else if (msg instanceof SpdyPingFrame f) {
                    if ((f.id() & 1) == 1) {
                        ctx.writeAndFlush(new DefaultSpdyPingFrame(f.id()));
                    } else {
                        conn.events.add("PING-REPLY " + f.id());
                    }
                } else if (msg instanceof SpdyRstStreamFrame f) {
                    conn.events.add("RST " + f.streamId() + " " + f.status().code());
                } else if (msg instanceof SpdyGoAwayFrame) {
                    conn.events.add("GOAWAY");
                } else {
                    conn.events.add("OTHER " + msg);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void onSyn(ChannelHandlerContext ctx, SpdySynStreamFrame f) {
            int id = f.streamId();
            Map<String, String> headers = new TreeMap<>();
            f.headers().forEach(e -> headers.put(e.getKey().toString(), e.getValue().toString()));
            conn.events.add("SYN_STREAM " + id + " " + headers);
            if (id % 2 == 0 || id <= lastId || f.isInvalid()) {
                conn.events.add("BAD SYN_STREAM " + id);
            }
            lastId = id;
            streams.put(id, headers);
            reply(ctx, id);
            String type = headers.get("streamtype");
            if (exec) {
                execStreams.put(type, id);
                return;
            }
            int port = Integer.parseInt(headers.get("port"));
            if (type.equals("error")) {
                errorStreams.put(headers.get("requestid"), id);
            } else if (port == 666) {
                int error = errorStreams.get(headers.get("requestid"));
                ctx.write(new DefaultSpdyDataFrame(error, Unpooled.copiedBuffer("refused port 666", StandardCharsets.UTF_8)));
                ctx.write(fin(error));
                ctx.writeAndFlush(fin(id));
            } else if (port == 667) {
                ctx.write(new DefaultSpdyRstStreamFrame(id, SpdyStreamStatus.CANCEL));
                ctx.writeAndFlush(fin(errorStreams.get(headers.get("requestid"))));
            }
        }

        private void reply(ChannelHandlerContext ctx, int id) {
            if (token.contains("nettyreply")) {
                ctx.writeAndFlush(new DefaultSpdySynReplyFrame(id));
                return;
            }
            // A control frame: version 3, type 2 (SYN_REPLY), no flags; stream id; zlib block of "0 headers".
            deflater.setInput(new byte[4]);
            byte[] block = new byte[64];
            int n = deflater.deflate(block, 0, block.length, Deflater.SYNC_FLUSH);
            ByteBuf frame = ctx.alloc().buffer(12 + n).writeShort(0x8003).writeShort(2).writeInt(4 + n)
                    .writeInt(id).writeBytes(block, 0, n);
            // Past the codec's own encoder, which would write an empty block.
            ctx.pipeline().context("spdy").writeAndFlush(frame);
        }

        private void onData(ChannelHandlerContext ctx, SpdyDataFrame f) {
            int id = f.streamId();
            Map<String, String> headers = streams.get(id);
            String type = headers.get("streamtype");
            byte[] data = ByteBufUtil.getBytes(f.content());
            if (f.isLast()) {
                conn.events.add("FIN " + id);
            }
            if (exec) {
                switch (type) {
                    case "stdin" -> {
                        send(ctx, "stdout", data);
                        send(ctx, "stderr", ("E:" + new String(data, StandardCharsets.ISO_8859_1))
                                .getBytes(StandardCharsets.ISO_8859_1));
                        stdin.append(new String(data, StandardCharsets.UTF_8));
                        if (f.isLast() || stdin.toString().endsWith("exit\n")) {
                            finish(ctx);
                        }
                    }
                    case "resize" -> {
                        conn.events.add("RESIZE " + new String(data, StandardCharsets.UTF_8));
                        send(ctx, "stdout", Peer.resizeText(data));
                    }
                    default -> conn.events.add("DATA on " + type);
                }
                ctx.flush();
                return;
            }
            if (type.equals("data")) {
                if (data.length > 0) {
                    ctx.write(new DefaultSpdyDataFrame(id, Unpooled.wrappedBuffer(data)));
                }
                if (f.isLast()) {
                    ctx.write(fin(id));
                    ctx.write(fin(errorStreams.get(headers.get("requestid"))));
                }
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        private void send(ChannelHandlerContext ctx, String type, byte[] data) {
            Integer id = execStreams.get(type);
            if (id != null && data.length > 0) {
                ctx.write(new DefaultSpdyDataFrame(id, Unpooled.wrappedBuffer(data)));
            }
        }

        /** What the kubelet does when the command has ended: status on the error stream, FINs, GOAWAY, close. */
        private void finish(ChannelHandlerContext ctx) {
            if (finished) {
                return;
            }
            finished = true;
            send(ctx, "error", Peer.status(token, protocol));
            for (String type : List.of("error", "stdout", "stderr")) {
                Integer id = execStreams.get(type);
                if (id != null) {
                    ctx.write(fin(id));
                }
            }
            ctx.writeAndFlush(new DefaultSpdyGoAwayFrame(lastId)).addListener(ChannelFutureListener.CLOSE);
        }

        private static SpdyDataFrame fin(int id) {
            SpdyDataFrame f = new DefaultSpdyDataFrame(id);
            f.setLast(true);
            return f;
        }
    }

    /** The WebSocket side: exec and port-forward channels as the kubelet's wsstream lays them out. */
    static final class WsPeer extends ChannelInboundHandlerAdapter {
        private final PeerConn conn;
        private final boolean exec;
        private final String token;
        private final List<Integer> ports;
        private final StringBuilder stdin = new StringBuilder();
        private final Channel channel;
        private final String protocol;
        private final boolean base64;
        private boolean finished;

        WsPeer(PeerConn conn, boolean exec, String token, List<String> ports, Channel channel, String selected) {
            this.conn = conn;
            this.exec = exec;
            this.token = token;
            this.ports = ports.stream().map(Integer::parseInt).toList();
            this.channel = channel;
            this.protocol = selected == null ? "" : selected;
            this.base64 = protocol.contains("base64");
        }

        /**
         * After the 101: the empty message on the lowest writable channel, then (port-forward) the port
         * prefixes; port 666 gets an error text, port 999 a "bye" and the connection's end.
         */
        void start() {
            Channel ch = channel;
            conn.events.add("PROTOCOL " + protocol);
            send(exec ? 1 : 0, new byte[0]);
            for (int i = 0; !exec && i < ports.size(); i++) {
                int port = ports.get(i);
                byte[] prefix = {(byte) port, (byte) (port >> 8)};
                send(2 * i, prefix);
                send(2 * i + 1, prefix);
                if (port == 666) {
                    send(2 * i + 1, "refused port 666".getBytes(StandardCharsets.UTF_8));
                }
                if (port == 999) {
                    send(2 * i, "bye".getBytes(StandardCharsets.UTF_8));
                    ch.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
                    return;
                }
            }
            ch.flush();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof BinaryWebSocketFrame f) {
                    conn.events.add("BINARY");
                    ByteBuf c = f.content();
                    int ch = c.readUnsignedByte();
                    byte[] data = ByteBufUtil.getBytes(c);
                    if (ch == 255 && protocol.startsWith("v5.")) {
                        conn.events.add("CLOSE-SIGNAL " + data[0]);
                        if (data[0] == 0) {
                            finish();
                        }
                    } else {
                        onMessage(ch, data);
                    }
                } else if (msg instanceof TextWebSocketFrame f) {
                    String text = f.text();
                    int ch = text.charAt(0) - '0';
                    conn.events.add("TEXT " + ch);
                    onMessage(ch, Base64.getDecoder().decode(text.substring(1)));
                } else if (msg instanceof PingWebSocketFrame f) {
                    ctx.writeAndFlush(new PongWebSocketFrame(f.content().retain()));
                } else if (msg instanceof CloseWebSocketFrame f) {
                    conn.events.add("CLOSE " + f.statusCode());
                    ctx.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
                } else {
                    conn.events.add("OTHER " + msg);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void onMessage(int ch, byte[] data) {
            if (!exec) {
                if (ch % 2 == 0) {
                    send(ch, data); // echo
                } else {
                    conn.events.add("DATA on error channel " + ch);
                }
            } else if (ch == 0) {
                send(1, data);
                send(2, ("E:" + new String(data, StandardCharsets.ISO_8859_1)).getBytes(StandardCharsets.ISO_8859_1));
                stdin.append(new String(data, StandardCharsets.UTF_8));
                if (stdin.toString().endsWith("exit\n")) {
                    finish();
                }
            } else if (ch == 4) {
                conn.events.add("RESIZE " + new String(data, StandardCharsets.UTF_8));
                send(1, Peer.resizeText(data));
            } else {
                conn.events.add("DATA on channel " + ch);
            }
            channel.flush();
        }

        private void finish() {
            if (finished) {
                return;
            }
            finished = true;
            byte[] status = Peer.status(token, protocol);
            if (status.length > 0) {
                send(3, status);
            }
            channel.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
        }

        private void send(int ch, byte[] data) {
            WebSocketFrame frame = base64
                    ? new TextWebSocketFrame((char) ('0' + ch) + Base64.getEncoder().encodeToString(data))
                    : new BinaryWebSocketFrame(Unpooled.buffer(1 + data.length).writeByte(ch).writeBytes(data));
            channel.write(frame);
        }
    }
}
