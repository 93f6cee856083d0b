package io.coracle.runtime.testing;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

/**
 * Client for the kubelet port-forward protocol (the URL a CRI runtime's PortForward returns), written
 * from client-go's portforward package and the kubelet's WebSocket variant.
 *
 * <p>SPDY ({@code portforward.k8s.io}): one connection; each {@link #open} is one forwarded TCP
 * connection: an error stream ({@code streamType: error}, {@code port}, {@code requestID}), which this
 * side half-closes at once, then a data stream with the same port and requestID. requestIDs count up
 * from 0 per connection, as kubectl's do.
 *
 * <p>WebSocket ({@code v4.channel.k8s.io} or {@code v4.base64.channel.k8s.io}, ports as {@code ?port=N}
 * query parameters): for the i-th port, channel 2i is data and 2i+1 is error; the server's first bytes
 * on each are the port, 2 bytes little-endian. One connection per call, one stream per port.
 */
public final class PortForwardClient implements AutoCloseable {
    public static final String SPDY_PROTOCOL = "portforward.k8s.io";
    public static final String WEBSOCKET_PROTOCOL = "v4.channel.k8s.io";
    public static final String WEBSOCKET_BASE64_PROTOCOL = "v4.base64.channel.k8s.io";
    private static final Duration PREFIX_TIMEOUT = Duration.ofSeconds(30);

    private final SpdyClientConnection conn;
    private final AtomicInteger nextRequestId = new AtomicInteger();

    private PortForwardClient(SpdyClientConnection conn) {
        this.conn = conn;
    }

    /** Upgrades a POST to the port-forward URL to SPDY/3.1, offering portforward.k8s.io. */
    public static PortForwardClient connectSpdy(URI url) throws IOException {
        return new PortForwardClient(SpdyClientConnection.connect(url, List.of(SPDY_PROTOCOL)));
    }

    /** The protocol the server named in its 101 ("" if none). */
    public String protocol() {
        return conn.protocol();
    }

    /** The SPDY session underneath, for pings, violations and odd experiments. */
    public SpdyClientConnection connection() {
        return conn;
    }

    /**
     * Opens a forwarded connection to {@code port} in the pod: the error stream (created, replied,
     * half-closed), then the data stream.
     */
    public PortForwardStream open(int port) throws IOException {
        int requestId = nextRequestId.getAndIncrement();
        PortForwardStream pfs = new PortForwardStream(port, requestId, conn.throttle());
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("streamType", "error");
        headers.put("port", Integer.toString(port));
        headers.put("requestID", Integer.toString(requestId));
        SpdyClientConnection.Stream error = conn.createStream(headers, new SpdyClientConnection.Receiver() {
            @Override
            public void data(byte[] chunk) {
                pfs.errorData(chunk);
            }

            @Override
            public void end(SpdyClientConnection.End how) {
                pfs.errorEnded();
            }
        }, SpdyClientConnection.DEFAULT_REPLY_TIMEOUT);
        error.finish();
        headers.put("streamType", "data");
        SpdyClientConnection.Stream data;
        try {
            data = conn.createStream(headers, new SpdyClientConnection.Receiver() {
                @Override
                public void data(byte[] chunk) {
                    pfs.data(chunk);
                }

                @Override
                public void end(SpdyClientConnection.End how) {
                    pfs.dataEnded(how == SpdyClientConnection.End.RESET_BY_PEER);
                }
            }, SpdyClientConnection.DEFAULT_REPLY_TIMEOUT);
        } catch (IOException e) {
            error.reset();
            throw e;
        }
        pfs.backend(new PortForwardStream.Backend() {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                data.write(b, off, len);
            }

            @Override
            public void halfClose() throws IOException {
                data.finish();
            }

            @Override
            public boolean supportsHalfClose() {
                return true;
            }

            @Override
            public void close() {
                try {
                    data.finish();
                } catch (IOException e) {
                    // connection gone; nothing to finish
                }
                if (data.remoteEnd() == null) {
                    data.reset();
                }
                if (error.remoteEnd() == null) {
                    error.reset();
                }
            }
        });
        return pfs;
    }

    /** A SPDY PING round trip. */
    public Duration ping(Duration timeout) throws IOException {
        return conn.ping(timeout);
    }

    /** GOAWAY and drop the connection; every stream's input ends. */
    @Override
    public void close() {
        conn.close();
    }

    /** One WebSocket offering v4.channel.k8s.io for the given ports. */
    public static List<PortForwardStream> connectWebSocket(URI url, int... ports) throws IOException {
        return connectWebSocket(url, List.of(WEBSOCKET_PROTOCOL), ports);
    }

    /**
     * One WebSocket to {@code url?port=N&port=M...} offering {@code protocols}; returns a stream per port
     * once the server has announced every data and error channel with its port prefix. The streams share
     * the connection, which closes when the last of them is closed.
     */
    public static List<PortForwardStream> connectWebSocket(URI url, List<String> protocols, int... ports)
            throws IOException {
        if (ports.length == 0) {
            throw new IllegalArgumentException("no ports");
        }
        StreamingNetty.ReadThrottle throttle = new StreamingNetty.ReadThrottle();
        List<PortForwardStream> streams = new ArrayList<>();
        for (int port : ports) {
            if (port <= 0 || port > 0xffff) {
                throw new IllegalArgumentException("port " + port);
            }
            streams.add(new PortForwardStream(port, -1, throttle));
        }
        Channels channels = new Channels(streams);
        String query = Arrays.stream(ports).mapToObj(p -> "port=" + p).collect(Collectors.joining("&"));
        String base = url.toString();
        URI full = URI.create(base + (url.getRawQuery() == null ? "?" : "&") + query);
        ChannelWebSocket ws = ChannelWebSocket.connect(full, protocols, channels);
        throttle.bind(ws.channel());
        try {
            channels.announced.get(PREFIX_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            ws.close();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for the port prefixes");
        } catch (TimeoutException e) {
            ws.close();
            throw new IOException("the server did not announce every port within " + PREFIX_TIMEOUT + ": "
                    + channels.describe());
        } catch (ExecutionException e) {
            ws.close();
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
        AtomicInteger open = new AtomicInteger(streams.size());
        for (int i = 0; i < streams.size(); i++) {
            int dataChannel = 2 * i;
            streams.get(i).backend(new PortForwardStream.Backend() {
                private volatile boolean released;

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    ws.send(dataChannel, b, off, len);
                }

                @Override
                public void halfClose() {
                    // v4.channel.k8s.io has no way to close one channel.
                }

                @Override
                public boolean supportsHalfClose() {
                    return false;
                }

                @Override
                public void close() {
                    if (!released) {
                        released = true;
                        if (open.decrementAndGet() == 0) {
                            ws.close();
                        }
                    }
                }
            });
        }
        return streams;
    }

    /** Routes WebSocket channels to the streams, checking the 2-byte port prefix that opens each channel. */
    private static final class Channels implements ChannelWebSocket.Listener {
        private final List<PortForwardStream> streams;
        private final int[] prefix; // per channel: the prefix bytes so far, little-endian
        private final int[] prefixBytes; // per channel: how many prefix bytes have arrived (0..2)
        private final CompletableFuture<Void> announced = new CompletableFuture<>();
        private int pending;

        Channels(List<PortForwardStream> streams) {
            this.streams = streams;
            this.prefix = new int[2 * streams.size()];
            this.prefixBytes = new int[2 * streams.size()];
            this.pending = 2 * streams.size();
        }

        @Override
        public synchronized void message(int channel, byte[] data) {
            if (channel >= prefix.length) {
                if (data.length > 0) {
                    announced.completeExceptionally(new IOException("message on channel " + channel + " but only "
                            + streams.size() + " ports were asked for"));
                }
                return;
            }
            PortForwardStream s = streams.get(channel / 2);
            int off = 0;
            while (prefixBytes[channel] < 2 && off < data.length) {
                prefix[channel] |= (data[off++] & 0xff) << (8 * prefixBytes[channel]++);
                if (prefixBytes[channel] == 2) {
                    if (prefix[channel] != s.port()) {
                        announced.completeExceptionally(new IOException("channel " + channel + " announced port "
                                + prefix[channel] + ", expected " + s.port() + " (2 bytes, little-endian)"));
                    }
                    if (--pending == 0) {
                        announced.complete(null);
                    }
                }
            }
            if (off == data.length) {
                return;
            }
            byte[] rest = off == 0 ? data : Arrays.copyOfRange(data, off, data.length);
            if (channel % 2 == 0) {
                s.data(rest);
            } else {
                s.errorData(rest);
            }
        }

        @Override
        public synchronized void closed(Throwable failure) {
            for (PortForwardStream s : streams) {
                s.dataEnded(false);
                s.errorEnded();
            }
            announced.completeExceptionally(new IOException("connection closed before every port was announced: "
                    + describe(), failure));
        }

        synchronized String describe() {
            StringBuilder b = new StringBuilder();
            for (int ch = 0; ch < prefix.length; ch++) {
                b.append(ch == 0 ? "" : ", ").append("channel ").append(ch).append(": ").append(prefixBytes[ch])
                        .append(" of 2 prefix bytes");
            }
            return b.toString();
        }
    }
}
