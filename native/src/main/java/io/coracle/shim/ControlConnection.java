package io.coracle.shim;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/** One request line to a shim's control socket and its reply line, within a deadline. */
final class ControlConnection {
    private ControlConnection() {}

    static String call(Path socket, String request, Duration timeout) throws ShimException {
        return call(socket, request, new byte[0], timeout);
    }

    /** A request line followed by a body (its length is part of the request, e.g. "update 123"). */
    static String call(Path socket, String request, byte[] body, Duration timeout) throws ShimException {
        try {
            return exchange(socket, request, body, timeout);
        } catch (ShimException e) {
            throw e;
        } catch (IOException e) {
            throw new ShimGoneException("shim at " + socket + " broke the connection during '" + request + "': "
                    + e.getMessage(), e);
        }
    }

    private static String exchange(Path socket, String request, byte[] body, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
             Selector selector = Selector.open()) {
            // connect on a unix socket does not block for long: the listen backlog answers at once.
            try {
                ch.connect(UnixDomainSocketAddress.of(socket));
            } catch (IOException e) {
                throw new ShimGoneException("no shim listens at " + socket + " (" + e.getMessage() + ")", e);
            }
            ch.configureBlocking(false);
            byte[] line = (request + "\n").getBytes(StandardCharsets.UTF_8);
            ByteBuffer out = ByteBuffer.allocate(line.length + body.length).put(line).put(body).flip();
            while (out.hasRemaining()) {
                ch.write(out);
                if (out.hasRemaining()) {
                    await(selector, ch, SelectionKey.OP_WRITE, deadline, socket, request);
                }
            }
            ByteBuffer in = ByteBuffer.allocate(4096);
            for (;;) {
                int n = ch.read(in);
                if (n < 0) {
                    throw new ShimGoneException("shim at " + socket + " closed the connection during '" + request + "'", null);
                }
                for (int i = 0; i < in.position(); i++) {
                    if (in.get(i) == '\n') {
                        return new String(in.array(), 0, i, StandardCharsets.UTF_8);
                    }
                }
                if (!in.hasRemaining()) {
                    throw new ShimException("shim at " + socket + " sent an over-long reply to '" + request + "'");
                }
                if (n == 0) {
                    await(selector, ch, SelectionKey.OP_READ, deadline, socket, request);
                }
            }
        }
    }

    private static void await(Selector selector, SocketChannel ch, int op, long deadline, Path socket, String request)
            throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new ShimTimeoutException("shim at " + socket + " did not answer '" + request + "' in time");
        }
        SelectionKey key = ch.register(selector, op);
        selector.select(Math.max(1, left / 1_000_000));
        key.cancel();
        selector.selectNow();
    }
}
