package io.coracle.runtime.streaming;

import com.google.protobuf.Message;
import io.coracle.cri.v1.AttachRequest;
import io.coracle.cri.v1.ExecRequest;
import io.coracle.cri.v1.PortForwardRequest;
import io.coracle.sandbox.Sandbox;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshaker;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshakerFactory;
import io.netty.handler.codec.spdy.SpdyFrameCodec;
import io.netty.handler.codec.spdy.SpdyVersion;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Supplier;
import java.util.logging.Logger;

/**
 * The streaming server's HTTP front: {@code /exec/<token>}, {@code /attach/<token>} and
 * {@code /portforward/<token>}, each token used once. The request must upgrade the connection,
 * to SPDY/3.1 (the kubelet's and crictl's clients) or to a WebSocket; the subprotocol is
 * negotiated, then the connection's pipeline becomes that protocol's.
 */
final class StreamRequestRouter extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger LOG = Logger.getLogger(StreamRequestRouter.class.getName());
    static final String PROTOCOL_HEADER = "X-Stream-Protocol-Version";
    static final String ACCEPTED_HEADER = "X-Accepted-Stream-Protocol-Versions";
    static final Duration STREAM_CREATION_TIMEOUT = Duration.ofSeconds(30);
    static final int MAX_WEBSOCKET_MESSAGE = 4 << 20;
    private static final List<String> WS_PORTFORWARD = List.of("v4.channel.k8s.io", "v4.base64.channel.k8s.io");

    private final StreamTokens tokens;
    private final StreamTargets targets;
    private final PodDialer dialer;

    StreamRequestRouter(StreamTokens tokens, StreamTargets targets, PodDialer dialer) {
        this.tokens = tokens;
        this.targets = targets;
        this.dialer = dialer;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        if (!req.decoderResult().isSuccess()) {
            respond(ctx, HttpResponseStatus.BAD_REQUEST, "malformed HTTP request", List.of());
            return;
        }
        QueryStringDecoder uri = new QueryStringDecoder(req.uri());
        String[] parts = uri.path().split("/");
        if (parts.length != 3 || !parts[0].isEmpty() || !List.of("exec", "attach", "portforward").contains(parts[1])) {
            respond(ctx, HttpResponseStatus.NOT_FOUND, "no such path: " + uri.path()
                    + " (streaming URLs are /exec/<token>, /attach/<token>, /portforward/<token>)", List.of());
            return;
        }
        if (!req.method().equals(HttpMethod.GET) && !req.method().equals(HttpMethod.POST)) {
            respond(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, "use GET or POST", List.of());
            return;
        }
        String kind = parts[1];
        Optional<Message> found = tokens.consume(parts[2]);
        Message request = found.filter(m -> switch (kind) {
            case "exec" -> m instanceof ExecRequest;
            case "attach" -> m instanceof AttachRequest;
            default -> m instanceof PortForwardRequest;
        }).orElse(null);
        if (request == null) {
            LOG.info("streaming: refused " + kind + " from " + ctx.channel().remoteAddress() + ": unknown, used or expired token");
            respond(ctx, HttpResponseStatus.NOT_FOUND, "unknown, used or expired " + kind + " token: ask for a new URL",
                    List.of());
            return;
        }
        String upgrade = req.headers().get(HttpHeaderNames.UPGRADE, "").toLowerCase(Locale.ROOT);
        if (upgrade.contains("websocket")) {
            webSocket(ctx, req, uri, request);
        } else if (upgrade.contains("spdy/3.1")) {
            spdy(ctx, req, request);
        } else {
            respond(ctx, HttpResponseStatus.BAD_REQUEST, kind + " needs the connection upgraded to SPDY/3.1 or "
                    + "WebSocket (Upgrade header)", List.of());
        }
    }

    private void spdy(ChannelHandlerContext ctx, FullHttpRequest req, Message request) {
        List<String> offered = new ArrayList<>();
        for (String v : req.headers().getAll(PROTOCOL_HEADER)) {
            for (String p : v.split(",")) {
                if (!p.isBlank()) {
                    offered.add(p.trim());
                }
            }
        }
        String chosen;
        SpdyConnection.Acceptor acceptor;
        String what = describe(request);
        ConnectionFlow flow = null;
        if (request instanceof PortForwardRequest pf) {
            Optional<Sandbox> pod = readyPod(ctx, pf);
            if (pod.isEmpty()) {
                return;
            }
            if (!offered.contains(SpdyPortForward.PROTOCOL)) {
                respond(ctx, HttpResponseStatus.FORBIDDEN, "unable to negotiate a port-forward protocol: client offers "
                        + offered + ", server accepts [" + SpdyPortForward.PROTOCOL + "]", List.of(SpdyPortForward.PROTOCOL));
                return;
            }
            chosen = SpdyPortForward.PROTOCOL;
            flow = new ConnectionFlow();
            acceptor = new SpdyPortForward(dialer, StreamTargets.netns(pod.get()), pod.get().id(), flow);
        } else {
            RemoteCommandProtocol p = RemoteCommandProtocol.negotiate(offered, RemoteCommandProtocol.SPDY);
            if (p == null) {
                List<String> accepted = RemoteCommandProtocol.SPDY.stream().map(x -> x.id).toList();
                respond(ctx, HttpResponseStatus.FORBIDDEN, "unable to negotiate a remote command protocol: client offers "
                        + offered + ", server accepts " + accepted, accepted);
                return;
            }
            chosen = p.id;
            acceptor = remoteCommandOverSpdy(p, request, what);
        }
        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.SWITCHING_PROTOCOLS);
        resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE)
                .set(HttpHeaderNames.UPGRADE, "SPDY/3.1")
                .set(PROTOCOL_HEADER, chosen);
        ctx.writeAndFlush(resp);
        ChannelPipeline p = ctx.pipeline();
        p.remove(HttpObjectAggregator.class);
        p.replace(HttpServerCodec.class, "spdy", new SpdyFrameCodec(SpdyVersion.SPDY_3_1));
        if (flow != null) {
            p.addLast("flow", flow);
        }
        SpdyConnection connection = new SpdyConnection(acceptor, what);
        p.replace(this, "session", connection);
        if (acceptor instanceof SpdyRemoteCommand rc) {
            rc.bind(connection);
        }
        LOG.info(what + ": SPDY " + chosen + " from " + ctx.channel().remoteAddress());
    }

    private SpdyRemoteCommand remoteCommandOverSpdy(RemoteCommandProtocol p, Message request, String what) {
        CommandRequest r = commandRequest(request);
        return new SpdyRemoteCommand(p, r.stdin(), r.stdout(), r.stderr(), r.tty(), r.command(), what,
                STREAM_CREATION_TIMEOUT);
    }

    private void webSocket(ChannelHandlerContext ctx, FullHttpRequest req, QueryStringDecoder uri, Message request) {
        String what = describe(request);
        String offeredHeader = req.headers().get(HttpHeaderNames.SEC_WEBSOCKET_PROTOCOL, "");
        List<String> offered = new ArrayList<>();
        for (String s : offeredHeader.split(",")) {
            if (!s.isBlank()) {
                offered.add(s.trim());
            }
        }
        List<String> supported = request instanceof PortForwardRequest ? WS_PORTFORWARD
                : RemoteCommandProtocol.WEBSOCKET.stream().map(x -> x.id).toList();
        String chosen = offered.stream().filter(supported::contains).findFirst().orElse(null);
        if (!offered.isEmpty() && chosen == null) {
            respond(ctx, HttpResponseStatus.BAD_REQUEST, "unable to negotiate a WebSocket subprotocol: client offers "
                    + offered + ", server accepts " + supported, List.of());
            return;
        }
        boolean base64 = chosen != null && chosen.contains("base64");
        WebSocketChannels channels;
        Runnable begin;
        if (request instanceof PortForwardRequest pf) {
            Optional<Sandbox> pod = readyPod(ctx, pf);
            if (pod.isEmpty()) {
                return;
            }
            List<Integer> ports = new ArrayList<>();
            for (String s : uri.parameters().getOrDefault("port", List.of())) {
                try {
                    int port = Integer.parseInt(s.trim());
                    if (port < 1 || port > 65535) {
                        throw new NumberFormatException();
                    }
                    ports.add(port);
                } catch (NumberFormatException e) {
                    respond(ctx, HttpResponseStatus.BAD_REQUEST, "query parameter port=" + s
                            + " is not a port between 1 and 65535", List.of());
                    return;
                }
            }
            if (ports.isEmpty()) {
                ports.addAll(pf.getPortList());
            }
            if (ports.isEmpty()) {
                respond(ctx, HttpResponseStatus.BAD_REQUEST, "port-forward over WebSocket needs the ports: ?port=N",
                        List.of());
                return;
            }
            channels = new WebSocketChannels(base64, false, what);
            ConnectionFlow flow = new ConnectionFlow();
            ctx.pipeline().addLast("flow", flow);
            WebSocketChannels c = channels;
            begin = () -> startWebSocketPortForward(c, flow, pod.get(), ports);
        } else {
            RemoteCommandProtocol p = chosen == null ? RemoteCommandProtocol.V1
                    : RemoteCommandProtocol.negotiate(List.of(chosen), RemoteCommandProtocol.WEBSOCKET);
            channels = new WebSocketChannels(p.base64, p.version >= 5, what);
            WebSocketChannels c = channels;
            begin = () -> startWebSocketCommand(c, p, request, what);
        }
        String location = "ws://" + req.headers().get(HttpHeaderNames.HOST, "localhost") + req.uri();
        WebSocketServerHandshaker handshaker = new WebSocketServerHandshakerFactory(location,
                String.join(",", supported), false, MAX_WEBSOCKET_MESSAGE).newHandshaker(req);
        if (handshaker == null) {
            WebSocketServerHandshakerFactory.sendUnsupportedVersionResponse(ctx.channel());
            return;
        }
        ChannelPipeline p = ctx.pipeline();
        handshaker.handshake(ctx.channel(), req).addListener(f -> {
            if (!f.isSuccess()) {
                LOG.info(what + ": WebSocket handshake failed: " + f.cause());
                ctx.close();
            }
        });
        p.addLast("wsaggregator", new WebSocketFrameAggregator(MAX_WEBSOCKET_MESSAGE));
        p.addLast("session", channels);
        p.remove(this);
        LOG.info(what + ": WebSocket " + (chosen == null ? "(no subprotocol)" : chosen) + " from "
                + ctx.channel().remoteAddress());
        begin.run();
    }

    private void startWebSocketCommand(WebSocketChannels c, RemoteCommandProtocol p, Message request, String what) {
        CommandRequest r = commandRequest(request);
        boolean stdin = r.stdin(), stdout = r.stdout(), stderr = r.stderr(), tty = r.tty();
        OutboundStream out = stdout ? c.stream(1) : null, err = stderr && !tty ? c.stream(2) : null, error = c.stream(3);
        // Tell the client the streams are up: an empty message on the lowest channel it reads.
        (out != null ? out : err != null ? err : error).send(Unpooled.EMPTY_BUFFER);
        RemoteCommandSession session = new RemoteCommandSession(r.command().get(),
                new RemoteCommandSession.Streams(out, err, error, p.jsonStatus(), c::close), what);
        if (stdin) {
            c.listen(0, session.stdinListener());
        }
        if (tty) {
            c.listen(4, session.resizeListener());
        }
        c.onClose(session::clientGone);
        session.start();
    }

    private void startWebSocketPortForward(WebSocketChannels c, ConnectionFlow flow, Sandbox pod, List<Integer> ports) {
        c.closeWhenAllFinished();
        for (int i = 0; i < ports.size(); i++) {
            int port = ports.get(i);
            OutboundStream data = c.stream(2 * i), error = c.stream(2 * i + 1);
            byte[] prefix = {(byte) port, (byte) (port >> 8)}; // the port, little-endian, opens each channel
            data.send(Unpooled.wrappedBuffer(prefix));
            error.send(Unpooled.wrappedBuffer(prefix.clone()));
            c.listen(2 * i, PortForwardBridge.start(dialer, StreamTargets.netns(pod), port, data, error, flow, pod.id()));
        }
    }

    /** The pod of a port-forward when it is still ready; else answers 404 and is empty. */
    private Optional<Sandbox> readyPod(ChannelHandlerContext ctx, PortForwardRequest pf) {
        Optional<Sandbox> pod = targets.readyPod(pf.getPodSandboxId());
        if (pod.isEmpty()) {
            respond(ctx, HttpResponseStatus.NOT_FOUND, "pod sandbox " + pf.getPodSandboxId() + " is gone or not ready",
                    List.of());
        }
        return pod;
    }

    /** What an exec or attach asked for, and how to get its command. */
    private record CommandRequest(boolean stdin, boolean stdout, boolean stderr, boolean tty,
                                  Supplier<StreamedCommand> command) {}

    private CommandRequest commandRequest(Message request) {
        return switch (request) {
            case ExecRequest e -> new CommandRequest(e.getStdin(), e.getStdout(), e.getStderr(), e.getTty(),
                    () -> targets.exec(e));
            case AttachRequest a -> new CommandRequest(a.getStdin(), a.getStdout(), a.getStderr(), a.getTty(),
                    () -> targets.attach(a));
            default -> throw new IllegalArgumentException(request.getClass().getName());
        };
    }

    private static String describe(Message request) {
        return switch (request) {
            case ExecRequest e -> "exec " + e.getCmdList() + " in container " + e.getContainerId();
            case AttachRequest a -> "attach to container " + a.getContainerId();
            case PortForwardRequest pf -> "port-forward to pod " + pf.getPodSandboxId();
            default -> request.getClass().getSimpleName();
        };
    }

    private static void respond(ChannelHandlerContext ctx, HttpResponseStatus status, String message, List<String> accepted) {
        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.copiedBuffer(message + "\n", StandardCharsets.UTF_8));
        resp.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        for (String a : accepted) {
            resp.headers().add(ACCEPTED_HEADER, a);
        }
        HttpUtil.setContentLength(resp, resp.content().readableBytes());
        ctx.writeAndFlush(resp).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.info("streaming: closing connection from " + ctx.channel().remoteAddress() + ": " + cause);
        ctx.close();
    }

}
