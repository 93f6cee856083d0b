package io.coracle.runtime.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.coracle.sys.NativePrograms;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * PodDialer against the real kernel: a network namespace of its own with line-echo servers
 * (python3) on 127.0.0.1 and on [::1] only, and one on the host's loopback. Each server greets a
 * connection with "port N" first, so a channel paired with the wrong dial shows. Needs root.
 */
class PodDialerTest {
    private static final String PYTHON = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    /** argv: address family ("4" or "6"), number of ports. Prints the ports, serves until stdin closes. */
    private static final String SERVER = """
            import socket, sys, threading
            family = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
            host = '::1' if sys.argv[1] == '6' else '127.0.0.1'
            def talk(c, port):
                with c:
                    try:
                        c.sendall(b'port %d\\n' % port)
                        while True:
                            d = c.recv(4096)
                            if not d:
                                return
                            c.sendall(d)
                    except OSError:
                        return  # the test hung up first
            def serve(s, port):
                while True:
                    c, _ = s.accept()
                    threading.Thread(target=talk, args=(c, port), daemon=True).start()
            ports = []
            for _ in range(int(sys.argv[2])):
                s = socket.socket(family)
                s.bind((host, 0))
                s.listen(128)
                ports.append(s.getsockname()[1])
                threading.Thread(target=serve, args=(s, ports[-1]), daemon=True).start()
            print(' '.join(map(str, ports)), flush=True)
            sys.stdin.read()
            """;

    static String ns;
    static Path netns;
    static Path tmp;
    static EventLoopGroup group;
    static PodDialer dialer;
    static final List<Process> servers = new ArrayList<>();
    static int[] ports;    // in the namespace, on 127.0.0.1
    static int port6;      // in the namespace, on [::1] only
    static int hostPort;   // on the host, on 127.0.0.1
    static final int DROPPED = 9; // in the namespace: iptables drops its SYNs

    @BeforeAll
    static void setUp() throws Exception {
        ns = "coracle-dialtest-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xffffff));
        run("ip", "netns", "add", ns);
        netns = Path.of("/run/netns", ns);
        run("ip", "-n", ns, "link", "set", "lo", "up");
        ports = server(true, "4", 4);
        port6 = server(true, "6", 1)[0];
        hostPort = server(false, "4", 1)[0];
        tmp = Files.createTempDirectory("coracle-dialtest-");
        group = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
        dialer = new PodDialer(NativePrograms.locate(), tmp.resolve("dial.sock"), group);
    }

    @AfterAll
    static void tearDown() throws Exception {
        try {
            if (dialer != null) {
                dialer.close();
                assertFalse(Files.exists(tmp.resolve("dial.sock")), "the socket file is left");
            }
            eventually("dial helpers are left: " + helpers(), () -> helpers().isEmpty());
        } finally {
            for (Process p : servers) {
                p.destroy(); // by PID (Process), never by name
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            }
            if (ns != null) {
                run("ip", "netns", "del", ns);
            }
            if (group != null) {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            }
            if (tmp != null) {
                try (var files = Files.list(tmp)) {
                    for (Path f : files.toList()) {
                        Files.deleteIfExists(f);
                    }
                }
                Files.deleteIfExists(tmp);
            }
        }
    }

    @Test
    void dialsIntoTheNamespace() throws Exception {
        Lines lines = new Lines();
        Channel ch = dial(netns, ports[0], lines).get(15, TimeUnit.SECONDS);
        try {
            assertInstanceOf(EpollSocketChannel.class, ch);
            assertTrue(ch.isActive() && ch.isRegistered());
            assertFalse(ch.config().isAutoRead());
            assertEquals(new InetSocketAddress("127.0.0.1", ports[0]), ch.remoteAddress());
            assertTrue(ch.pipeline().toMap().containsValue(lines));
            ch.config().setAutoRead(true);
            assertEquals("port " + ports[0], lines.next());
            ch.writeAndFlush(ascii("hello through the namespace\n"));
            assertEquals("hello through the namespace", lines.next());
        } finally {
            ch.close().syncUninterruptibly();
        }
    }

    @Test
    void fallsBackToIpv6Loopback() throws Exception {
        Lines lines = new Lines();
        Channel ch = dial(netns, port6, lines).get(15, TimeUnit.SECONDS);
        try {
            assertEquals(new InetSocketAddress("::1", port6), ch.remoteAddress());
            ch.read();
            assertEquals("port " + port6, lines.next());
        } finally {
            ch.close().syncUninterruptibly();
        }
    }

    @Test
    void refusedPortFailsWithTheHelpersMessage() {
        String msg = failure(dial(netns, 1, new Lines()));
        assertEquals("coracle-shim dial: connect 127.0.0.1:1 in " + netns + ": Connection refused", msg);
    }

    @Test
    void badNetnsPathFails() {
        assertEquals("coracle-shim dial: open /nonexistent/netns: No such file or directory",
                failure(dial(Path.of("/nonexistent/netns"), ports[0], new Lines())));
        String msg = failure(dial(Path.of("/etc/hostname"), ports[0], new Lines()));
        assertTrue(msg.startsWith("coracle-shim dial: setns /etc/hostname (not a network namespace?): "), msg);
    }

    @Test
    void dialsOnTheHostWithoutNetns() throws Exception {
        Lines lines = new Lines();
        Channel ch = dial(null, hostPort, lines).get(15, TimeUnit.SECONDS);
        try {
            assertEquals(new InetSocketAddress("127.0.0.1", hostPort).getPort(), ((InetSocketAddress) ch.remoteAddress()).getPort());
            assertFalse(ch.config().isAutoRead());
            ch.config().setAutoRead(true);
            assertEquals("port " + hostPort, lines.next());
            ch.writeAndFlush(ascii("on the host\n"));
            assertEquals("on the host", lines.next());
        } finally {
            ch.close().syncUninterruptibly();
        }
        String msg = failure(dial(null, 1, new Lines()));
        assertEquals("connect 127.0.0.1:1 on the host: Connection refused", msg);
    }

    @Test
    void concurrentDialsArePairedWithTheirRequests() throws Exception {
        int n = 20;
        List<Lines> lines = new ArrayList<>();
        List<CompletableFuture<Channel>> dials = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            lines.add(new Lines());
            dials.add(dial(netns, ports[i % ports.length], lines.get(i)));
        }
        List<Channel> channels = new ArrayList<>();
        try {
            for (CompletableFuture<Channel> d : dials) {
                channels.add(d.get(15, TimeUnit.SECONDS));
            }
            Set<Channel> distinct = Collections.newSetFromMap(new IdentityHashMap<>());
            distinct.addAll(channels);
            assertEquals(n, distinct.size());
            for (int i = 0; i < n; i++) {
                Channel ch = channels.get(i);
                assertTrue(ch.pipeline().toMap().containsValue(lines.get(i)));
                assertEquals(ports[i % ports.length], ((InetSocketAddress) ch.remoteAddress()).getPort());
                ch.config().setAutoRead(true);
                ch.writeAndFlush(ascii("dial " + i + "\n"));
            }
            for (int i = 0; i < n; i++) {
                assertEquals("port " + ports[i % ports.length], lines.get(i).next(), "dial " + i);
                assertEquals("dial " + i, lines.get(i).next());
            }
        } finally {
            channels.forEach(ch -> ch.close().syncUninterruptibly());
        }
        eventually("dials left pending", () -> dialer.pending() == 0);
    }

    @Test
    void timeoutKillsTheHelperAndCloseEndsDialsInProgress() throws Exception {
        run("ip", "netns", "exec", ns, "iptables", "-I", "INPUT", "-p", "tcp", "--dport", Integer.toString(DROPPED), "-j", "DROP");
        Path socket = tmp.resolve("short.sock");
        try (PodDialer quick = new PodDialer(NativePrograms.locate(), socket, group, Duration.ofSeconds(1))) {
            long t0 = System.nanoTime();
            CompletableFuture<Channel> d = quick.dial(netns, DROPPED, group.next(), new Lines());
            String msg = failure(d);
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertEquals("dial port " + DROPPED + " in " + netns + ": no connection after 1 s", msg);
            assertTrue(ms >= 900 && ms < 5000, ms + " ms");
            eventually("the helper of a timed-out dial is left: " + helpers(), () -> helpers().isEmpty());
            eventually("dials left pending", () -> quick.pending() == 0);

            CompletableFuture<Channel> hanging = quick.dial(netns, DROPPED, group.next(), new Lines());
            eventually("no helper started", () -> !helpers().isEmpty());
            quick.close();
            assertTrue(failure(hanging).endsWith(": the dialer is closed"));
            assertFalse(Files.exists(socket));
            eventually("the helper of a closed dialer is left: " + helpers(), () -> helpers().isEmpty());
            assertTrue(failure(quick.dial(netns, ports[0], group.next(), new Lines())).endsWith(": the dialer is closed"));
            assertTrue(failure(quick.dial(null, hostPort, group.next(), new Lines())).endsWith(": the dialer is closed"));
        } finally {
            run("ip", "netns", "exec", ns, "iptables", "-D", "INPUT", "-p", "tcp", "--dport", Integer.toString(DROPPED), "-j", "DROP");
        }
    }

    @Test
    void nothingLeaks() throws Exception {
        Channel warm = dial(netns, ports[0], new Lines()).get(15, TimeUnit.SECONDS);
        warm.close().syncUninterruptibly();
        failure(dial(netns, 1, new Lines()));
        eventually("warm-up helpers left", () -> helpers().isEmpty() && dialer.pending() == 0);
        int fds = openFds();
        List<CompletableFuture<Channel>> dials = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            dials.add(switch (i % 3) {
                case 0 -> dial(netns, ports[i % ports.length], new Lines());
                case 1 -> dial(netns, 1, new Lines());
                default -> dial(Path.of("/nonexistent"), 80, new Lines());
            });
        }
        for (CompletableFuture<Channel> d : dials) {
            try {
                d.get(15, TimeUnit.SECONDS).close().syncUninterruptibly();
            } catch (ExecutionException e) {
                assertInstanceOf(PortForwardException.class, e.getCause());
            }
        }
        eventually("helpers left: " + helpers(), () -> helpers().isEmpty());
        eventually("dials left pending", () -> dialer.pending() == 0);
        eventually("open fds: " + fds + " before, more after", () -> openFds() <= fds);
    }

    @Test
    void dialLatency() throws Exception {
        int n = 50;
        long[] ns = new long[n];
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            Channel ch = dial(netns, ports[0], new Lines()).get(15, TimeUnit.SECONDS);
            ns[i] = System.nanoTime() - t0;
            ch.close().syncUninterruptibly();
        }
        Arrays.sort(ns);
        double median = (ns[n / 2 - 1] + ns[n / 2]) / 2e6;
        System.out.printf("PodDialer: %d dials into a namespace: median %.2f ms, min %.2f ms, max %.2f ms%n",
                n, median, ns[0] / 1e6, ns[n - 1] / 1e6);
        assertTrue(median < 1000, median + " ms");
    }

    // --- helpers ---

    private static CompletableFuture<Channel> dial(Path netns, int port, Lines handler) {
        return dialer.dial(netns, port, group.next(), handler);
    }

    /** The message of the PortForwardException the dial fails with. */
    private static String failure(CompletableFuture<Channel> dial) {
        try {
            Channel ch = dial.get(15, TimeUnit.SECONDS);
            ch.close();
            return fail("dial succeeded: " + ch);
        } catch (ExecutionException e) {
            assertInstanceOf(PortForwardException.class, e.getCause(), () -> e.getCause().toString());
            return e.getCause().getMessage();
        } catch (Exception e) {
            return fail(e);
        }
    }

    private static ByteBuf ascii(String s) {
        return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
    }

    /** Dial helpers (coracle-shim processes) among this JVM's children. */
    private static List<ProcessHandle> helpers() {
        return ProcessHandle.current().children()
                // the shim re-executes itself from a sealed memfd: its exe is then "/memfd:coracle-shim (deleted)"
                .filter(p -> p.info().command().map(c -> c.endsWith("/" + NativePrograms.SHIM)
                        || c.startsWith("/memfd:" + NativePrograms.SHIM)).orElse(false))
                .toList();
    }

    private static int openFds() {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return (int) fds.count();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void eventually(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail(what);
            }
            Thread.sleep(20);
        }
    }

    /** Starts an echo server (in the namespace, or on the host) and returns its ports. */
    private static int[] server(boolean inNamespace, String family, int count) throws IOException {
        List<String> cmd = new ArrayList<>();
        if (inNamespace) {
            cmd.addAll(List.of("ip", "netns", "exec", ns));
        }
        cmd.addAll(List.of(PYTHON, "-c", SERVER, family, Integer.toString(count)));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        servers.add(p);
        String line = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.US_ASCII)).readLine();
        if (line == null) {
            throw new IOException("the echo server did not start: " + cmd);
        }
        return Arrays.stream(line.trim().split(" ")).mapToInt(Integer::parseInt).toArray();
    }

    private static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", cmd) + " exited " + p.exitValue() + ": " + out.strip());
        }
    }

    /** Collects what a channel reads, as lines. */
    static final class Lines extends ChannelInboundHandlerAdapter {
        private final StringBuilder text = new StringBuilder();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                synchronized (this) {
                    text.append(buf.toString(StandardCharsets.US_ASCII));
                    notifyAll();
                }
            } finally {
                buf.release();
            }
        }

        /** The next complete line (without "\n"), waiting up to 5 s. */
        synchronized String next() throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            int nl;
            while ((nl = text.indexOf("\n")) < 0) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    fail("no line within 5 s; got '" + text + "'");
                }
                wait(left);
            }
            String line = text.substring(0, nl);
            text.delete(0, nl + 1);
            return line;
        }
    }
}
