package io.coracle.runtime.streaming;

import io.coracle.runtime.config.DaemonConfig;
import io.coracle.runtime.container.ExecSyncRunner;
import io.coracle.sandbox.SandboxStore;
import io.coracle.shim.ExecRunner;
import io.coracle.sys.NativePrograms;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The streaming server behind Exec, Attach and PortForward: plain HTTP (or HTTPS) on its own
 * TCP port, by default on 127.0.0.1 with a free port, on Netty's epoll transport.
 */
public final class StreamingServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StreamingServer.class.getName());

    private final EventLoopGroup group;
    private final Channel server;
    private final PodDialer dialer;
    private final StreamUrlIssuer issuer;
    private final String baseUrl;

    private StreamingServer(DaemonConfig.Streaming config, Path stateDir, NativePrograms programs,
                            SandboxStore sandboxes, ExecSyncRunner processes) throws IOException {
        SslContext tls = config.tlsCertFile() == null ? null : tls(config.tlsCertFile(), config.tlsKeyFile());
        group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        StreamTokens tokens = new StreamTokens(config.tokenTtl());
        StreamTargets targets = new StreamTargets(sandboxes, processes, new ExecRunner(programs));
        try {
            dialer = new PodDialer(programs, stateDir.resolve("portforward.sock"), group);
        } catch (IOException e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
        long idleSeconds = config.idleTimeout().toSeconds();
        try {
            server = new ServerBootstrap()
                    .group(group)
                    .channel(EpollServerSocketChannel.class)
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 << 10, 1 << 20))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            WritabilityGate.install(ch);
                            if (tls != null) {
                                ch.pipeline().addLast("tls", tls.newHandler(ch.alloc()));
                            }
                            ch.pipeline().addLast("idle", new IdleStateHandler(0, 0, idleSeconds, TimeUnit.SECONDS))
                                    .addLast("idle-close", new IdleCloser())
                                    .addLast("http", new HttpServerCodec())
                                    .addLast("aggregator", new HttpObjectAggregator(64 * 1024))
                                    .addLast("router", new StreamRequestRouter(tokens, targets, dialer));
                        }
                    })
                    .bind(new InetSocketAddress(config.address(), config.port())).sync().channel();
        } catch (Exception e) {
            dialer.close();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw new IOException("cannot bind " + config.address().getHostAddress() + ":" + config.port() + ": "
                    + e.getMessage(), e);
        }
        int port = ((InetSocketAddress) server.localAddress()).getPort();
        baseUrl = (tls == null ? "http" : "https") + "://" + urlHost(config.address()) + ":" + port;
        issuer = new StreamUrlIssuer(tokens, processes, sandboxes, baseUrl);
    }

    private static SslContext tls(Path cert, Path key) throws IOException {
        for (Path f : new Path[] {cert, key}) {
            if (!java.nio.file.Files.isRegularFile(f) || !java.nio.file.Files.isReadable(f)) {
                throw new IOException("TLS file " + f + " (streaming.tls_" + (f == cert ? "cert" : "key")
                        + "_file) is missing or unreadable");
            }
        }
        try {
            return SslContextBuilder.forServer(cert.toFile(), key.toFile()).build();
        } catch (IllegalArgumentException | javax.net.ssl.SSLException e) {
            throw new IOException("TLS certificate " + cert + " with key " + key + " unusable (a PEM certificate "
                    + "chain and a PKCS#8 PEM key, \"BEGIN PRIVATE KEY\", are needed): " + e.getMessage(), e);
        }
    }

    /** Binds the server; an IOException when the address cannot be bound or the TLS files are unusable. */
    public static StreamingServer start(DaemonConfig.Streaming config, Path stateDir, NativePrograms programs,
                                        SandboxStore sandboxes, ExecSyncRunner processes) throws IOException {
        StreamingServer s = new StreamingServer(config, stateDir, programs, sandboxes, processes);
        LOG.info("streaming server on " + s.baseUrl);
        return s;
    }

    /** The Exec, Attach and PortForward RPCs. */
    public StreamUrlIssuer issuer() {
        return issuer;
    }

    /** The host part of URLs: the bound address, or for a wildcard, the node's first non-loopback address. */
    private static String urlHost(InetAddress bound) throws SocketException {
        InetAddress a = bound;
        if (bound.isAnyLocalAddress()) {
            a = InetAddress.getLoopbackAddress();
            search:
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                if (!nic.isUp() || nic.isLoopback()) {
                    continue;
                }
                for (InetAddress addr : Collections.list(nic.getInetAddresses())) {
                    if (addr instanceof Inet4Address || (addr instanceof Inet6Address && !addr.isLinkLocalAddress())) {
                        a = addr;
                        break search;
                    }
                }
            }
        }
        String host = a.getHostAddress();
        if (a instanceof Inet6Address) {
            int zone = host.indexOf('%');
            host = "[" + (zone >= 0 ? host.substring(0, zone) : host) + "]";
        }
        return host;
    }

    @Override
    public void close() {
        server.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        dialer.close();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
    }

    /** Closes connections that carried nothing for the idle timeout. */
    private static final class IdleCloser extends ChannelInboundHandlerAdapter {
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent) {
                LOG.info("streaming: closing idle connection from " + ctx.channel().remoteAddress());
                ctx.close();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }
    }
}
