package io.coracle.runtime.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeoutException;

/**
 * One forwarded connection to a port in the pod, from {@link PortForwardClient}: a data stream as an
 * InputStream/OutputStream pair, and the text the server puts on the matching error stream (e.g. why
 * it could not connect).
 *
 * <p>The InputStream gives EOF when the server half-closes the data stream (SPDY FIN), resets it, or
 * the connection closes (the only end WebSocket has). Closing the OutputStream half-closes the data
 * stream on SPDY (DATA with FIN, as client-go does when the local side hits EOF); WebSocket v4 has no
 * half-close, so there it only stops further writes and nothing reaches the server
 * ({@link #supportsHalfClose()}). Reading and writing may happen on two threads; data is handed over
 * in chunks, and the connection stops being read while one stream has more than 8 MiB unread.
 */
public final class PortForwardStream implements AutoCloseable {
    /** How a stream talks to its transport. */
    interface Backend {
        void write(byte[] b, int off, int len) throws IOException;

        void halfClose() throws IOException;

        boolean supportsHalfClose();

        void close();
    }

    private final int port;
    private final int requestId;
    private final StreamingNetty.ChunkInputStream input;
    private final Output output = new Output();
    private final Object lock = new Object();
    private final ByteArrayOutputStream error = new ByteArrayOutputStream();
    private boolean errorEnded;
    private volatile boolean reset;
    private volatile Backend backend;
    private volatile boolean closed;

    PortForwardStream(int port, int requestId, StreamingNetty.ReadThrottle throttle) {
        this.port = port;
        this.requestId = requestId;
        this.input = new StreamingNetty.ChunkInputStream(throttle);
    }

    void backend(Backend backend) {
        this.backend = backend;
    }

    // --- from the transport (event loop) ---

    void data(byte[] chunk) {
        input.offer(chunk);
    }

    void dataEnded(boolean resetByServer) {
        if (resetByServer) {
            reset = true;
        }
        input.end();
    }

    void errorData(byte[] chunk) {
        synchronized (lock) {
            error.writeBytes(chunk);
            lock.notifyAll();
        }
    }

    void errorEnded() {
        synchronized (lock) {
            errorEnded = true;
            lock.notifyAll();
        }
    }

    // --- API ---

    /** The port in the pod. */
    public int port() {
        return port;
    }

    /** The SPDY requestID header of the stream pair; -1 on WebSocket. */
    public int requestId() {
        return requestId;
    }

    public InputStream input() {
        return input;
    }

    public OutputStream output() {
        return output;
    }

    /** Whether closing {@link #output()} reaches the server (SPDY) or not (WebSocket). */
    public boolean supportsHalfClose() {
        return backend.supportsHalfClose();
    }

    /** Whether the server reset the data stream (RST_STREAM) rather than finishing it. */
    public boolean wasReset() {
        return reset;
    }

    /** The error stream's text so far. */
    public String errorText() {
        synchronized (lock) {
            return error.toString(StandardCharsets.UTF_8);
        }
    }

    /**
     * Waits until the error stream has ended (SPDY: the server finished or reset it, or the connection
     * closed; WebSocket: the connection closed) and returns its text, "" if there was none.
     */
    public String awaitError(Duration timeout) throws InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            while (!errorEnded) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException("error stream for port " + port + " still open after " + timeout
                            + "; so far: \"" + error.toString(StandardCharsets.UTF_8) + "\"");
                }
                lock.wait(Math.max(1, left / 1_000_000));
            }
            return error.toString(StandardCharsets.UTF_8);
        }
    }

    /**
     * Ends this forwarded connection: half-closes if not yet done, and (SPDY) resets whatever the
     * server has not finished; on WebSocket the shared connection closes with its last stream. Later
     * reads give EOF.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        output.closed = true;
        input.close();
        backend.close();
    }

    @Override
    public String toString() {
        return "port-forward stream to port " + port + (requestId >= 0 ? " (request " + requestId + ")" : "");
    }

    private final class Output extends OutputStream {
        private volatile boolean closed;

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (closed) {
                throw new IOException("output of " + PortForwardStream.this + " is closed");
            }
            if (len > 0) {
                backend.write(b, off, len);
            }
        }

        @Override
        public void close() throws IOException {
            if (!closed) {
                closed = true;
                backend.halfClose();
            }
        }
    }
}
