package io.coracle.runtime.streaming;

import io.coracle.sys.NativePrograms;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.DomainSocketReadMode;
import io.netty.channel.unix.FileDescriptor;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Connects to TCP ports of pods, for CRI PortForward. The JVM cannot enter a network namespace, so
 * {@code coracle-shim dial} does: it joins the pod's namespace, connects to 127.0.0.1:port (then
 * [::1]:port), and sends the connected socket back over this dialer's unix socket (SCM_RIGHTS). The
 * dialer tells the helpers apart by their PID as the kernel reports it (SO_PEERCRED), so the socket
 * file only has to be private (mode 0600), not secret.
 */
public final class PodDialer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PodDialer.class.getName());
    static final Duration DIAL_TIMEOUT = Duration.ofSeconds(10);

    private final NativePrograms programs;
    private final Path socketPath;
    private final Duration timeout;
    private final Channel server;

    private final Object lock = new Object();
    /** Dials whose helper runs, by the helper's PID; an entry leaves when its socket arrives or the helper fails. */
    private final Map<Long, Request> requests = new HashMap<>();
    /** Sockets that arrived before dial() recorded their helper's PID (it was still starting). */
    private final Map<Long, FileDescriptor> early = new HashMap<>();
    /** Helpers being started: while there are some, a socket from an unknown PID may be theirs. */
    private int starting;
    private boolean closed;

    /** Listens on {@code socketPath} (replacing a stale socket file) for the helpers' sockets. */
    public PodDialer(NativePrograms programs, Path socketPath, EventLoopGroup group) throws IOException {
        this(programs, socketPath, group, DIAL_TIMEOUT);
    }

    PodDialer(NativePrograms programs, Path socketPath, EventLoopGroup group, Duration timeout) throws IOException {
        this.programs = Objects.requireNonNull(programs);
        this.socketPath = socketPath.toAbsolutePath();
        this.timeout = timeout;
        if (Files.isDirectory(this.socketPath, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("dial socket path " + this.socketPath + " is a directory");
        }
        Files.deleteIfExists(this.socketPath);
        ChannelFuture bound = new ServerBootstrap()
                .group(group)
                .channel(EpollServerDomainSocketChannel.class)
                .childOption(EpollChannelOption.DOMAIN_SOCKET_READ_MODE, DomainSocketReadMode.FILE_DESCRIPTORS)
                .childHandler(new HelperConnection())
                .bind(new DomainSocketAddress(this.socketPath.toString()))
                .awaitUninterruptibly();
        if (!bound.isSuccess()) {
            throw new IOException("cannot listen on " + this.socketPath + ": " + bound.cause().getMessage(), bound.cause());
        }
        this.server = bound.channel();
        try {
            Files.setPosixFilePermissions(this.socketPath, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException e) {
            server.close().awaitUninterruptibly();
            throw e;
        }
    }

    /**
     * Connects to 127.0.0.1:port (then [::1]) inside the network namespace at netns, or on the host
     * when netns is null (then without the helper: a plain Netty epoll connect to 127.0.0.1:port).
     * The future completes with an active, registered epoll socket channel on {@code loop} whose
     * pipeline holds {@code handler}, with AUTO_READ off (the caller calls read()/setAutoRead(true)
     * when ready). It fails with a {@link PortForwardException} whose message is the helper's stderr
     * line (e.g. "coracle-shim dial: connect 127.0.0.1:80 in /proc/1/ns/net: Connection refused"),
     * or after 10 s. The handler is added before the channel is registered, so it sees
     * channelRegistered and channelActive; on the host, a failed connect may have added it to (and
     * removed it from) a channel that never became active. Does not block: the helper is started on
     * a virtual thread.
     */
    public CompletableFuture<Channel> dial(Path netns, int port, EventLoop loop, ChannelHandler handler) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " is not in 1-65535");
        }
        Objects.requireNonNull(loop, "loop");
        Objects.requireNonNull(handler, "handler");
        if (netns == null) {
            synchronized (lock) {
                if (closed) {
                    return CompletableFuture.failedFuture(
                            new PortForwardException("connect 127.0.0.1:" + port + " on the host: the dialer is closed"));
                }
            }
            return dialHost(port, loop, handler);
        }
        Request r = new Request(netns, port, loop, handler);
        try {
            r.timer = loop.schedule(r::timedOut, timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            r.fail(new PortForwardException("dial port " + port + " in " + netns + ": the event loop is shut down", e));
            return r.future;
        }
        r.future.whenComplete((ch, t) -> r.timer.cancel(false));
        synchronized (lock) {
            if (closed) {
                r.fail(new PortForwardException("dial port " + port + " in " + netns + ": the dialer is closed"));
                return r.future;
            }
            starting++;
        }
        try {
            Thread.ofVirtual().name("pod-dial-" + port).start(() -> start(r));
        } catch (RuntimeException | Error e) {
            synchronized (lock) {
                starting--;
            }
            r.fail(new PortForwardException("dial port " + port + " in " + netns + ": " + e, e));
        }
        return r.future;
    }

    /** Stops listening and removes the socket file; dials in progress fail and their helpers are killed. */
    @Override
    public void close() {
        List<Request> pending;
        List<FileDescriptor> parked;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            pending = new ArrayList<>(requests.values());
            parked = new ArrayList<>(early.values());
            requests.clear();
            early.clear();
        }
        ChannelFuture closing = server.close();
        if (!server.eventLoop().inEventLoop()) {
            closing.awaitUninterruptibly();
        }
        for (Request r : pending) {
            r.fail(new PortForwardException("dial port " + r.port + " in " + r.netns + ": the dialer is closed"));
            r.process.destroyForcibly();
        }
        parked.forEach(PodDialer::closeQuietly);
        try {
            Files.deleteIfExists(socketPath);
        } catch (IOException e) {
            LOG.warning("cannot remove " + socketPath + ": " + e.getMessage());
        }
    }

    /** Dials waiting for their helper's socket, helpers being started, and sockets not yet claimed (for tests). */
    int pending() {
        synchronized (lock) {
            return requests.size() + starting + early.size();
        }
    }

    /** Runs on a virtual thread: starts the helper and records it under its PID. */
    private void start(Request r) {
        Process p = null;
        IOException failure = null;
        try {
            p = new ProcessBuilder(programs.shim().toString(), "dial", "--netns", r.netns.toString(),
                    "--port", Integer.toString(r.port), "--socket", socketPath.toString())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
        } catch (IOException e) {
            failure = e;
        }
        FileDescriptor arrived = null;
        List<FileDescriptor> strays = List.of();
        boolean dialerClosed;
        synchronized (lock) {
            starting--;
            dialerClosed = closed;
            if (p != null && !closed) {
                r.process = p;
                arrived = early.remove(p.pid());
                if (arrived == null) {
                    requests.put(p.pid(), r);
                }
            }
            if (starting == 0 && !early.isEmpty()) {
                // Every helper started so far is recorded: what is left came from someone else.
                strays = new ArrayList<>(early.values());
                early.clear();
            }
        }
        for (FileDescriptor fd : strays) {
            LOG.warning("closing a socket sent to " + socketPath + " by a process that is not a dial helper");
            closeQuietly(fd);
        }
        if (p == null) {
            r.fail(new PortForwardException("dial port " + r.port + " in " + r.netns + ": cannot start "
                    + programs.shim() + ": " + failure.getMessage(), failure));
            return;
        }
        Process helper = p;
        helper.onExit().whenComplete((x, t) -> exited(r, helper));
        if (dialerClosed) {
            r.fail(new PortForwardException("dial port " + r.port + " in " + r.netns + ": the dialer is closed"));
        }
        if (r.future.isDone()) {
            helper.destroyForcibly(); // timed out (or closed) while starting
        }
        if (arrived != null) {
            r.deliver(arrived);
        }
    }

    /** The helper is gone (and reaped): a failure's reason is on its stderr; success means its socket is on the way. */
    private void exited(Request r, Process p) {
        String stderr;
        try (InputStream err = p.getErrorStream()) {
            stderr = new String(err.readAllBytes(), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            stderr = "";
        }
        int code = p.exitValue();
        if (code == 0 && !r.future.isDone()) {
            return; // the socket was sent: its arrival completes the dial
        }
        synchronized (lock) {
            requests.remove(p.pid(), r);
        }
        if (code != 0) {
            r.fail(new PortForwardException(!stderr.isEmpty() ? stderr
                    : "dial port " + r.port + " in " + r.netns + ": " + programs.shim() + " exited with " + code));
        }
    }

    /** A helper's socket arrived (on the server's event loop). */
    private void received(long pid, FileDescriptor fd) {
        Request r;
        synchronized (lock) {
            r = requests.remove(pid);
            if (r == null && starting > 0 && !closed) {
                FileDescriptor previous = early.put(pid, fd);
                if (previous != null) {
                    closeQuietly(previous);
                }
                return;
            }
        }
        if (r != null) {
            r.deliver(fd);
        } else {
            LOG.warning("closing a socket sent to " + socketPath + " by process " + pid + ", which no dial waits for");
            closeQuietly(fd);
        }
    }

    private CompletableFuture<Channel> dialHost(int port, EventLoop loop, ChannelHandler handler) {
        CompletableFuture<Channel> future = new CompletableFuture<>();
        new Bootstrap()
                .group(loop)
                .channel(EpollSocketChannel.class)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) timeout.toMillis())
                .handler(handler)
                .connect(new InetSocketAddress("127.0.0.1", port))
                .addListener((ChannelFuture f) -> {
                    if (f.isSuccess()) {
                        if (!future.complete(f.channel())) {
                            f.channel().close();
                        }
                    } else {
                        future.completeExceptionally(new PortForwardException(
                                "connect 127.0.0.1:" + port + " on the host: " + reason(f.cause()), f.cause()));
                    }
                });
        return future;
    }

    /** The errno text of a failed connect, without Netty's "connect(..) failed: " and address. */
    private static String reason(Throwable t) {
        if (t instanceof io.netty.channel.ConnectTimeoutException) {
            return "timed out";
        }
        String msg = Objects.requireNonNullElse(t.getMessage(), t.getClass().getSimpleName());
        if (t instanceof ConnectException) {
            int colon = msg.indexOf("): ");
            msg = colon >= 0 ? msg.substring(colon + 3) : msg.replaceFirst("^\\w+\\(\\.\\.\\) failed: ", "");
            int addr = msg.lastIndexOf(": /");
            msg = addr >= 0 ? msg.substring(0, addr) : msg;
        }
        return msg;
    }

    private static void closeQuietly(FileDescriptor fd) {
        try {
            fd.close();
        } catch (IOException e) {
            LOG.warning("close fd " + fd.intValue() + ": " + e.getMessage());
        }
    }

    /** One dial into a namespace. */
    private final class Request {
        final Path netns;
        final int port;
        final EventLoop loop;
        final ChannelHandler handler;
        final CompletableFuture<Channel> future = new CompletableFuture<>();
        volatile ScheduledFuture<?> timer;
        volatile Process process; // set once started, under lock

        Request(Path netns, int port, EventLoop loop, ChannelHandler handler) {
            this.netns = netns;
            this.port = port;
            this.loop = loop;
            this.handler = handler;
        }

        void fail(Throwable t) {
            future.completeExceptionally(t);
        }

        void timedOut() {
            if (!future.completeExceptionally(new PortForwardException("dial port " + port + " in " + netns
                    + ": no connection after " + timeout.toSeconds() + " s"))) {
                return;
            }
            Process p = process;
            if (p == null) {
                return; // still starting: start() kills it
            }
            if (!p.isAlive()) {
                // It exited 0 but its socket never came: nothing more will.
                synchronized (lock) {
                    requests.remove(p.pid(), this);
                }
            }
            p.destroyForcibly(); // exited() removes the request once it is reaped
        }

        /** Wraps the helper's connected socket as a channel on loop (or closes it if the dial is over). */
        void deliver(FileDescriptor fd) {
            if (future.isDone()) {
                closeQuietly(fd);
                return;
            }
            EpollSocketChannel ch;
            try {
                ch = new EpollSocketChannel(fd.intValue());
            } catch (RuntimeException e) {
                closeQuietly(fd);
                fail(new PortForwardException("dial port " + port + " in " + netns + ": the helper's socket: " + e, e));
                return;
            }
            ch.config().setAutoRead(false);
            ch.pipeline().addLast(handler);
            loop.register(ch).addListener((ChannelFuture f) -> {
                if (!f.isSuccess()) {
                    // Netty closed the channel (and so the fd) when the registration failed.
                    fail(new PortForwardException("dial port " + port + " in " + netns + ": register the channel: "
                            + f.cause(), f.cause()));
                } else if (!future.complete(ch)) {
                    ch.close();
                }
            });
        }
    }

    /** One helper's connection: its message carries the socket; the sender's PID says whose it is. */
    @ChannelHandler.Sharable
    private final class HelperConnection extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof FileDescriptor fd)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            long pid;
            try {
                pid = ((EpollDomainSocketChannel) ctx.channel()).peerCredentials().pid();
            } catch (IOException e) {
                LOG.warning("closing a socket sent to " + socketPath + " by an unknown process: " + e.getMessage());
                closeQuietly(fd);
                ctx.close();
                return;
            }
            received(pid, fd);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.warning("dial helper connection on " + socketPath + ": " + cause);
            ctx.close();
        }
    }
}
