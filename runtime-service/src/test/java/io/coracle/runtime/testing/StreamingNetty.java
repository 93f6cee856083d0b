package io.coracle.runtime.testing;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/** What the SPDY and WebSocket stream clients share: the event loop, connecting, and blocking-write backpressure. */
final class StreamingNetty {
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(30);
    /** Largest DATA frame / WebSocket message the clients write; bigger writes are split. */
    static final int MAX_WRITE_CHUNK = 64 * 1024;

    private static EventLoopGroup group;
    private static SslContext tls;

    private StreamingNetty() {
    }

    /** One small daemon-threaded event loop group for all stream clients of the test JVM. */
    static synchronized EventLoopGroup group() {
        if (group == null) {
            group = new MultiThreadIoEventLoopGroup(2, new DefaultThreadFactory("stream-client", true),
                    NioIoHandler.newFactory());
        }
        return group;
    }

    /**
     * The TLS client context for https:// and wss:// URLs: trusts any certificate and checks no host name,
     * as crictl does with Insecure: true.
     */
    static synchronized SslContext tls() throws IOException {
        if (tls == null) {
            tls = SslContextBuilder.forClient().trustManager(InsecureTrustManagerFactory.INSTANCE)
                    .endpointIdentificationAlgorithm(null).build();
        }
        return tls;
    }

    static boolean isTls(URI url) {
        return switch (String.valueOf(url.getScheme())) {
            case "http", "ws" -> false;
            case "https", "wss" -> true;
            default -> throw new IllegalArgumentException("not an http URL: " + url);
        };
    }

    static String host(URI url) {
        String host = url.getHost();
        if (host == null) {
            throw new IllegalArgumentException("no host in " + url);
        }
        return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    }

    static int port(URI url) {
        if (url.getPort() != -1) {
            return url.getPort();
        }
        return isTls(url) ? 443 : 80;
    }

    /** The request target: raw path (or "/") plus the raw query. */
    static String requestTarget(URI url) {
        String path = url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath();
        return url.getRawQuery() == null ? path : path + "?" + url.getRawQuery();
    }

    /** The Host header value. */
    static String hostHeader(URI url) {
        String host = url.getHost();
        return url.getPort() == -1 ? host : host + ":" + url.getPort();
    }

    /**
     * Opens a TCP connection to the URL's host and port with {@code init} setting up the pipeline; for
     * https:// and wss:// an SslHandler comes first (writes made before its handshake ends wait in it).
     */
    static Channel connect(URI url, Consumer<SocketChannel> init) throws IOException {
        SslContext ssl = isTls(url) ? tls() : null;
        String host = host(url);
        int port = port(url);
        Bootstrap b = new Bootstrap()
                .group(group())
                .channel(NioSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) CONNECT_TIMEOUT.toMillis())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 * 1024, 1024 * 1024))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        if (ssl != null) {
                            ch.pipeline().addLast("tls", ssl.newHandler(ch.alloc(), host, port));
                        }
                        init.accept(ch);
                    }
                });
        ChannelFuture f = b.connect(host, port);
        try {
            f.await();
        } catch (InterruptedException e) {
            f.channel().close();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while connecting to " + url);
        }
        if (!f.isSuccess()) {
            throw new IOException("cannot connect to " + url + ": " + f.cause(), f.cause());
        }
        return f.channel();
    }

    /** Waits for a handshake's outcome; closes the channel if it fails or times out. */
    static <T> T awaitHandshake(Channel ch, CompletableFuture<T> result, URI url) throws IOException {
        try {
            return result.get(HANDSHAKE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            ch.close();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted during the upgrade of " + url);
        } catch (TimeoutException e) {
            ch.close();
            throw new IOException("no upgrade response from " + url + " within " + HANDSHAKE_TIMEOUT);
        } catch (ExecutionException e) {
            ch.close();
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            throw new IOException("upgrade of " + url + " failed: " + cause, cause);
        }
    }

    /**
     * Blocks the writing (non event loop) thread while the channel's outbound buffer is above its high
     * water mark, so a 100 MB push does not pile up in memory. Signalled by the pipeline's
     * channelWritabilityChanged and channelInactive.
     */
    static final class WriteGate {
        private final Object lock = new Object();

        void await(Channel ch) throws IOException {
            if (ch.eventLoop().inEventLoop()) {
                return;
            }
            synchronized (lock) {
                while (ch.isActive() && !ch.isWritable()) {
                    try {
                        lock.wait(100);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException("interrupted while waiting to write");
                    }
                }
            }
            if (!ch.isActive()) {
                throw new IOException("connection closed");
            }
        }

        void signal() {
            synchronized (lock) {
                lock.notifyAll();
            }
        }
    }

    /**
     * Stops reading from a connection while some consumer is too far behind, and reads again when all
     * have caught up. The protocols have no flow control, so holding TCP back is the only brake (a Go
     * client brakes the same way: its per-stream channels are unbuffered).
     */
    static final class ReadThrottle {
        private volatile Channel channel;
        private int paused; // event loop only

        /** Bound to its channel once that exists; until then (a handshake's worth of data) it does nothing. */
        void bind(Channel channel) {
            this.channel = channel;
        }

        void pause(boolean pause) {
            Channel channel = this.channel;
            if (channel == null) {
                return;
            }
            channel.eventLoop().execute(() -> {
                paused += pause ? 1 : -1;
                channel.config().setAutoRead(paused <= 0);
            });
        }
    }

    /**
     * An InputStream over chunks handed over by the event loop: a blocking queue, EOF after {@link #end()}.
     * Asks its throttle to stop reading the connection while more than {@code HIGH} bytes wait unread.
     */
    static final class ChunkInputStream extends InputStream {
        private static final long HIGH = 8L * 1024 * 1024;
        private static final long LOW = 2L * 1024 * 1024;
        private static final byte[] EOF = new byte[0];

        private final LinkedBlockingQueue<byte[]> queue = new LinkedBlockingQueue<>();
        private final AtomicLong queued = new AtomicLong();
        private final AtomicBoolean pausing = new AtomicBoolean();
        private final ReadThrottle throttle;
        private volatile boolean closed;
        private byte[] current;
        private int pos;

        ChunkInputStream(ReadThrottle throttle) {
            this.throttle = throttle;
        }

        /** From the event loop: a chunk of data (not copied; the caller hands it over). */
        void offer(byte[] chunk) {
            if (closed || chunk.length == 0) {
                return;
            }
            queue.add(chunk);
            if (queued.addAndGet(chunk.length) > HIGH && pausing.compareAndSet(false, true)) {
                throttle.pause(true);
            }
        }

        /** The sender finished (or the stream/connection ended): readers get EOF after what is queued. */
        void end() {
            queue.add(EOF);
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n == -1 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (closed) {
                return -1;
            }
            if (current == null) {
                try {
                    current = queue.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while reading");
                }
                pos = 0;
            }
            if (current == EOF) {
                current = null;
                queue.add(EOF); // stays at EOF
                return -1;
            }
            int n = Math.min(len, current.length - pos);
            System.arraycopy(current, pos, b, off, n);
            pos += n;
            if (pos == current.length) {
                current = null;
            }
            if (queued.addAndGet(-n) < LOW && pausing.compareAndSet(true, false)) {
                throttle.pause(false);
            }
            return n;
        }

        @Override
        public int available() {
            return current == null || current == EOF ? 0 : current.length - pos;
        }

        /** Local close: later reads return EOF and data still arriving is dropped. */
        @Override
        public void close() {
            closed = true;
            queue.clear();
            queue.add(EOF);
            queued.set(0);
            if (pausing.compareAndSet(true, false)) {
                throttle.pause(false);
            }
        }
    }
}
