package io.coracle.runtime.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * An exec or attach session on a streaming server, opened by {@link RemoteCommandClient}. Everything the
 * server sends is kept in memory. Writes may come from one thread at a time; reads from any.
 */
public interface RemoteCommandSession extends AutoCloseable {
    /** The negotiated subprotocol ("" if the server named none, which means channel.k8s.io). */
    String protocol();

    StreamTransport transport();

    /** Sends to the command's stdin; blocks while the connection's send buffer is full. */
    void writeStdin(byte[] data) throws IOException;

    default void writeStdin(String text) throws IOException {
        writeStdin(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Whether {@link #closeStdin()} can work: SPDY (any version) and WebSocket v5.channel.k8s.io. */
    boolean canCloseStdin();

    /**
     * Closes the command's stdin: on SPDY a DATA frame with FIN on the stdin stream; on WebSocket
     * v5.channel.k8s.io the close signal [255, 0].
     *
     * @throws IllegalStateException on WebSocket protocols before v5, which have no way to say it
     */
    void closeStdin() throws IOException;

    /**
     * Sends a terminal size as client-go does: JSON {@code {"Width":W,"Height":H}} plus a newline
     * (json.Encoder), one per write, on the resize stream (SPDY v3+, TTY sessions only) or channel 4.
     */
    void resize(int width, int height) throws IOException;

    /** Everything received on stdout so far (a copy). */
    byte[] stdout();

    /** Everything received on stderr so far (a copy). */
    byte[] stderr();

    default String stdoutText() {
        return new String(stdout(), StandardCharsets.UTF_8);
    }

    default String stderrText() {
        return new String(stderr(), StandardCharsets.UTF_8);
    }

    /** Waits until stdout, decoded as UTF-8, satisfies {@code p}; false on timeout or if the session ended first. */
    boolean awaitStdout(Predicate<String> p, Duration timeout) throws InterruptedException;

    /** As {@link #awaitStdout}, for stderr. */
    boolean awaitStderr(Predicate<String> p, Duration timeout) throws InterruptedException;

    /**
     * Waits for the session to end (SPDY: the server has ended the error, stdout and stderr streams or
     * closed the connection; WebSocket: the connection has closed) and decodes the error stream.
     *
     * @throws TimeoutException if it has not ended in time
     * @throws IOException if the connection broke, or (WebSocket) ended without a normal-closure close
     *     frame, which client-go reports as an error whatever the error stream said
     */
    ExitStatus awaitExit(Duration timeout) throws IOException, InterruptedException, TimeoutException;

    /** Whether the session has ended (see {@link #awaitExit}). */
    boolean isEnded();

    /** Server behaviour a Go client would drop silently or choke on. */
    List<String> protocolViolations();

    /** Drops the connection (SPDY: GOAWAY first; WebSocket: a close frame first). */
    @Override
    void close();
}
