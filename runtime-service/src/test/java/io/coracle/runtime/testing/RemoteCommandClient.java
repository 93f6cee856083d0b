package io.coracle.runtime.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * Client for the kubelet remote-command protocol (the exec and attach URLs a CRI runtime returns),
 * written from client-go's remotecommand package.
 *
 * <p>SPDY: one stream per purpose, created in client-go's order and each awaited (SYN_REPLY) before
 * the next: {@code streamType} error, stdin (if asked), stdout (if asked), stderr (if asked and not a
 * TTY), resize (TTY sessions under v3 and later). The server reads what each stream is for from that
 * header; the command's options come from the CRI request the URL's token stands for, and the server
 * waits for exactly the streams they imply, so the booleans here must match that request.
 *
 * <p>WebSocket: one connection, channel byte per message: 0 stdin, 1 stdout, 2 stderr, 3 error,
 * 4 resize (see {@link ChannelWebSocket}). The server opens channels from the CRI request; the
 * booleans here only guard what this side may send. The URL is used as given (no query parameters
 * added: a CRI streaming server takes the options from the request behind the token).
 */
public final class RemoteCommandClient {
    public static final String V1 = "channel.k8s.io";
    public static final String V2 = "v2.channel.k8s.io";
    public static final String V3 = "v3.channel.k8s.io";
    public static final String V4 = "v4.channel.k8s.io";
    public static final String V5 = "v5.channel.k8s.io";
    public static final String BASE64_V1 = "base64.channel.k8s.io";
    public static final String BASE64_V4 = "v4.base64.channel.k8s.io";

    /** What kubectl/crictl offer over SPDY (client-go NewSPDYExecutor). */
    public static final List<String> SPDY_PROTOCOLS = List.of(V5, V4, V3, V2, V1);
    /** client-go's WebSocket executor offers v5 only; v4 is added here as the fallback a server may pick. */
    public static final List<String> WEBSOCKET_PROTOCOLS = List.of(V5, V4);

    private static final int STDIN = 0;
    private static final int STDOUT = 1;
    private static final int STDERR = 2;
    private static final int ERROR = 3;
    private static final int RESIZE = 4;

    private RemoteCommandClient() {
    }

    /** Connects offering the default protocols of the transport. */
    public static RemoteCommandSession connect(URI url, StreamTransport transport, boolean stdin, boolean stdout,
            boolean stderr, boolean tty) throws IOException {
        return connect(url, transport, transport == StreamTransport.SPDY ? SPDY_PROTOCOLS : WEBSOCKET_PROTOCOLS,
                stdin, stdout, stderr, tty);
    }

    /**
     * Connects to an exec/attach URL (e.g. http://127.0.0.1:PORT/exec/TOKEN) and opens the streams.
     *
     * @param protocols subprotocols to offer, in preference order
     * @throws UpgradeRefusedException if the server does not switch protocols (404 for a bad token...)
     */
    public static RemoteCommandSession connect(URI url, StreamTransport transport, List<String> protocols,
            boolean stdin, boolean stdout, boolean stderr, boolean tty) throws IOException {
        if (!stdin && !stdout && !stderr) {
            throw new IllegalArgumentException("at least one of stdin, stdout and stderr");
        }
        return switch (transport) {
            case SPDY -> SpdySession.open(url, protocols, stdin, stdout, stderr, tty);
            case WEBSOCKET -> WebSocketSession.open(url, protocols, stdin, stdout, stderr, tty);
        };
    }

    static byte[] resizeMessage(int width, int height) {
        if (width < 0 || width > 0xffff || height < 0 || height > 0xffff) {
            throw new IllegalArgumentException("terminal size is two uint16: " + width + "x" + height);
        }
        return ("{\"Width\":" + width + ",\"Height\":" + height + "}\n").getBytes(StandardCharsets.UTF_8);
    }

    /** Buffers, waiting and the end of a session, whatever the transport. */
    private abstract static class Base implements RemoteCommandSession {
        final String protocol;
        final boolean stdin;
        final boolean stdout;
        final boolean stderr;
        final boolean tty;
        final List<String> violations = new CopyOnWriteArrayList<>();
        private final Object lock = new Object();
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteArrayOutputStream err = new ByteArrayOutputStream();
        private final ByteArrayOutputStream error = new ByteArrayOutputStream();
        private boolean ended;
        private IOException failure;

        Base(String protocol, boolean stdin, boolean stdout, boolean stderr, boolean tty) {
            this.protocol = protocol;
            this.stdin = stdin;
            this.stdout = stdout;
            this.stderr = stderr;
            this.tty = tty;
        }

        @Override
        public String protocol() {
            return protocol;
        }

        void received(int channel, byte[] data) {
            synchronized (lock) {
                switch (channel) {
                    case STDOUT -> out.writeBytes(data);
                    case STDERR -> err.writeBytes(data);
                    case ERROR -> error.writeBytes(data);
                    default -> throw new IllegalArgumentException("channel " + channel);
                }
                lock.notifyAll();
            }
        }

        void ended(IOException failure) {
            synchronized (lock) {
                if (!ended) {
                    ended = true;
                    this.failure = failure;
                    lock.notifyAll();
                }
            }
        }

        @Override
        public boolean isEnded() {
            synchronized (lock) {
                return ended;
            }
        }

        @Override
        public byte[] stdout() {
            synchronized (lock) {
                return out.toByteArray();
            }
        }

        @Override
        public byte[] stderr() {
            synchronized (lock) {
                return err.toByteArray();
            }
        }

        @Override
        public boolean awaitStdout(Predicate<String> p, Duration timeout) throws InterruptedException {
            return await(out, p, timeout);
        }

        @Override
        public boolean awaitStderr(Predicate<String> p, Duration timeout) throws InterruptedException {
            return await(err, p, timeout);
        }

        private boolean await(ByteArrayOutputStream buf, Predicate<String> p, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            synchronized (lock) {
                int seen = -1;
                while (true) {
                    if (buf.size() != seen) {
                        seen = buf.size();
                        if (p.test(buf.toString(StandardCharsets.UTF_8))) {
                            return true;
                        }
                    }
                    long left = deadline - System.nanoTime();
                    if (ended || left <= 0) {
                        return false;
                    }
                    lock.wait(Math.max(1, left / 1_000_000));
                }
            }
        }

        @Override
        public ExitStatus awaitExit(Duration timeout) throws IOException, InterruptedException, TimeoutException {
            long deadline = System.nanoTime() + timeout.toNanos();
            byte[] errorBytes;
            synchronized (lock) {
                while (!ended) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        throw new TimeoutException("session (" + protocol + ") has not ended within " + timeout
                                + "; error stream so far: \"" + error.toString(StandardCharsets.UTF_8)
                                + "\", stdout so far: \"" + tail(out) + "\"");
                    }
                    lock.wait(Math.max(1, left / 1_000_000));
                }
                errorBytes = error.toByteArray();
                if (failure != null) {
                    throw new IOException(failure.getMessage() + "; error stream had: \""
                            + new String(errorBytes, StandardCharsets.UTF_8) + "\"", failure);
                }
            }
            return ExitStatus.decode(protocol, errorBytes);
        }

        private static String tail(ByteArrayOutputStream buf) {
            String s = buf.toString(StandardCharsets.UTF_8);
            return s.length() <= 2000 ? s : "..." + s.substring(s.length() - 2000);
        }

        @Override
        public List<String> protocolViolations() {
            List<String> all = new ArrayList<>(violations);
            all.addAll(transportViolations());
            return all;
        }

        abstract List<String> transportViolations();

        void requireStdin() {
            if (!stdin) {
                throw new IllegalStateException("session opened without stdin");
            }
        }

        void requireTty() {
            if (!tty) {
                throw new IllegalStateException("resize needs a TTY session");
            }
        }
    }

    private static final class SpdySession extends Base {
        private final SpdyClientConnection conn;
        private final Map<Integer, SpdyClientConnection.Stream> streams = new LinkedHashMap<>();
        private int open; // error/stdout/stderr streams the server has not ended yet; guarded by this

        private SpdySession(SpdyClientConnection conn, boolean stdin, boolean stdout, boolean stderr, boolean tty) {
            super(conn.protocol(), stdin, stdout, stderr, tty);
            this.conn = conn;
        }

        static SpdySession open(URI url, List<String> protocols, boolean stdin, boolean stdout, boolean stderr,
                boolean tty) throws IOException {
            SpdyClientConnection conn = SpdyClientConnection.connect(url, protocols);
            SpdySession s = new SpdySession(conn, stdin, stdout, stderr, tty);
            // Counted before any exists, so a stream the server ends at once cannot end the session early.
            s.open = 1 + (stdout ? 1 : 0) + (stderr && !tty ? 1 : 0);
            try {
                s.create("error", ERROR);
                if (stdin) {
                    s.create("stdin", STDIN);
                }
                if (stdout) {
                    s.create("stdout", STDOUT);
                }
                if (stderr && !tty) {
                    s.create("stderr", STDERR);
                }
                if (tty && s.hasResizeStream()) {
                    s.create("resize", RESIZE);
                }
            } catch (IOException | RuntimeException e) {
                conn.close();
                throw e;
            }
            return s;
        }

        private boolean hasResizeStream() {
            return !protocol.isEmpty() && !protocol.equals(V1) && !protocol.equals(V2);
        }

        private void create(String type, int channel) throws IOException {
            boolean watched = channel == ERROR || channel == STDOUT || channel == STDERR;
            SpdyClientConnection.Receiver receiver = new SpdyClientConnection.Receiver() {
                @Override
                public void data(byte[] chunk) {
                    if (watched) {
                        received(channel, chunk);
                    } else {
                        violations.add("data from the server on the " + type + " stream");
                    }
                }

                @Override
                public void end(SpdyClientConnection.End how) {
                    if (watched) {
                        streamEnded();
                    }
                }
            };
            try {
                streams.put(channel, conn.createStream(Map.of("streamType", type), receiver,
                        SpdyClientConnection.DEFAULT_REPLY_TIMEOUT));
            } catch (IOException e) {
                throw new IOException("creating the " + type + " stream: " + e.getMessage(), e);
            }
        }

        private void streamEnded() {
            boolean all;
            synchronized (this) {
                all = --open == 0;
            }
            if (all) {
                Throwable f = conn.failure();
                ended(f == null ? null : new IOException("SPDY connection failed: " + f, f));
            }
        }

        @Override
        public StreamTransport transport() {
            return StreamTransport.SPDY;
        }

        @Override
        public void writeStdin(byte[] data) throws IOException {
            requireStdin();
            streams.get(STDIN).write(data);
        }

        @Override
        public boolean canCloseStdin() {
            return stdin;
        }

        @Override
        public void closeStdin() throws IOException {
            requireStdin();
            streams.get(STDIN).finish();
        }

        @Override
        public void resize(int width, int height) throws IOException {
            requireTty();
            SpdyClientConnection.Stream resize = streams.get(RESIZE);
            if (resize == null) {
                throw new IllegalStateException("no resize stream under " + (protocol.isEmpty() ? V1 : protocol));
            }
            resize.write(resizeMessage(width, height));
        }

        @Override
        List<String> transportViolations() {
            return conn.protocolViolations();
        }

        @Override
        public void close() {
            conn.close();
        }
    }

    private static final class WebSocketSession extends Base {
        private final ChannelWebSocket ws;

        private WebSocketSession(ChannelWebSocket ws, boolean stdin, boolean stdout, boolean stderr, boolean tty) {
            super(ws.protocol(), stdin, stdout, stderr, tty);
            this.ws = ws;
        }

        static WebSocketSession open(URI url, List<String> protocols, boolean stdin, boolean stdout, boolean stderr,
                boolean tty) throws IOException {
            WebSocketSession[] self = new WebSocketSession[1];
            List<Runnable> early = new ArrayList<>();
            // Messages may arrive before this method has its session object: hold them until it has.
            ChannelWebSocket.Listener listener = new ChannelWebSocket.Listener() {
                @Override
                public void message(int channel, byte[] data) {
                    deliver(() -> self[0].onMessage(channel, data));
                }

                @Override
                public void closeSignal(int channel) {
                    deliver(() -> self[0].onCloseSignal(channel));
                }

                @Override
                public void closed(Throwable failure) {
                    deliver(() -> self[0].onClosed(failure));
                }

                private void deliver(Runnable r) {
                    synchronized (early) {
                        if (self[0] == null) {
                            early.add(r);
                            return;
                        }
                    }
                    r.run();
                }
            };
            ChannelWebSocket ws = ChannelWebSocket.connect(url, protocols, listener);
            WebSocketSession s = new WebSocketSession(ws, stdin, stdout, stderr, tty);
            synchronized (early) {
                self[0] = s;
                early.forEach(Runnable::run);
                early.clear();
            }
            return s;
        }

        private void onMessage(int channel, byte[] data) {
            switch (channel) {
                case STDOUT, STDERR, ERROR -> received(channel, data);
                default -> {
                    if (data.length > 0) {
                        violations.add(data.length + " bytes from the server on channel " + channel);
                    }
                }
            }
        }

        private void onCloseSignal(int channel) {
            // v5 lets either side close a channel; the connection's end still ends the session.
        }

        private void onClosed(Throwable failure) {
            if (failure != null) {
                ended(new IOException("WebSocket connection failed: " + failure, failure));
            } else if (ws.closeStatus() != 1000) {
                ended(new IOException(ws.closeStatus() == -1
                        ? "WebSocket closed without a close frame (client-go: \"error reading from error stream\")"
                        : "WebSocket closed with status " + ws.closeStatus() + " " + ws.closeReason()
                                + " (client-go accepts only 1000)"));
            } else {
                ended(null);
            }
        }

        @Override
        public StreamTransport transport() {
            return StreamTransport.WEBSOCKET;
        }

        @Override
        public void writeStdin(byte[] data) throws IOException {
            requireStdin();
            ws.send(STDIN, data, 0, data.length);
        }

        @Override
        public boolean canCloseStdin() {
            return stdin && protocol.equals(V5);
        }

        @Override
        public void closeStdin() throws IOException {
            requireStdin();
            if (!protocol.equals(V5)) {
                throw new IllegalStateException("stdin cannot be closed under " + (protocol.isEmpty() ? "no subprotocol"
                        : protocol) + " (the close signal came with v5.channel.k8s.io)");
            }
            ws.sendCloseSignal(STDIN);
        }

        @Override
        public void resize(int width, int height) throws IOException {
            requireTty();
            byte[] msg = resizeMessage(width, height);
            ws.send(RESIZE, msg, 0, msg.length);
        }

        @Override
        List<String> transportViolations() {
            return ws.protocolViolations();
        }

        @Override
        public void close() {
            ws.close();
        }
    }
}
