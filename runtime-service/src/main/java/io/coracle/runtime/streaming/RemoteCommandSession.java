package io.coracle.runtime.streaming;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One exec or attach over a streaming connection, whatever the transport: pumps the client's
 * stdin and terminal sizes into the command, the command's output to the client, and at the end
 * tells the outcome on the error stream and closes the connection.
 */
final class RemoteCommandSession {
    private static final Logger LOG = Logger.getLogger(RemoteCommandSession.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final byte[] EOF = new byte[0];
    /** Client stdin buffered beyond this stops reading from the connection until the command takes it. */
    private static final long STDIN_HIGH = 1 << 20, STDIN_LOW = 256 << 10;

    /** The session's outbound streams (stdout/stderr null when not wanted) and how to end the connection. */
    record Streams(OutboundStream stdout, OutboundStream stderr, OutboundStream error, boolean jsonStatus,
                   Runnable closeConnection) {}

    private final StreamedCommand command;
    private final Streams streams;
    private final String what;
    private final Channel channel;
    private final LinkedBlockingQueue<byte[]> stdin = new LinkedBlockingQueue<>();
    private final LinkedBlockingQueue<int[]> sizes = new LinkedBlockingQueue<>();
    private final AtomicLong stdinQueued = new AtomicLong();
    private final CountDownLatch started = new CountDownLatch(1);
    private final AtomicBoolean over = new AtomicBoolean();
    private volatile boolean commandStarted;
    private final ByteArrayOutputStream resizeBuffer = new ByteArrayOutputStream();

    RemoteCommandSession(StreamedCommand command, Streams streams, String what) {
        this.command = command;
        this.streams = streams;
        this.what = what;
        this.channel = streams.error().channel();
    }

    void start() {
        Thread.ofVirtual().name("stream-" + what).start(this::run);
    }

    private void run() {
        CommandOutcome outcome;
        try {
            command.start(sink(streams.stdout()), sink(streams.stderr()));
            commandStarted = true;
            started.countDown();
            Thread.ofVirtual().name("stdin-" + what).start(this::pumpStdin);
            Thread.ofVirtual().name("resize-" + what).start(this::pumpSizes);
            outcome = command.awaitEnd();
        } catch (IOException e) {
            started.countDown();
            outcome = CommandOutcome.failed(e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            outcome = CommandOutcome.failed("interrupted");
        }
        over.set(true);
        stdin.add(EOF);
        sizes.add(new int[0]);
        if (outcome.error() != null) {
            LOG.warning(what + ": " + outcome.error());
        } else {
            LOG.fine(what + ": ended, exit code " + outcome.exitCode());
        }
        if (streams.stdout() != null) {
            streams.stdout().finish();
        }
        if (streams.stderr() != null) {
            streams.stderr().finish();
        }
        byte[] status = outcome.errorStreamContent(streams.jsonStatus());
        if (status.length > 0) {
            streams.error().send(Unpooled.wrappedBuffer(status));
        }
        streams.error().finish();
        streams.closeConnection().run();
    }

    private static StreamedCommand.OutputSink sink(OutboundStream out) {
        return out == null ? null : (data, length) -> out.write(Unpooled.copiedBuffer(data, 0, length));
    }

    private void pumpStdin() {
        try {
            for (;;) {
                byte[] data = stdin.take();
                if (data == EOF) {
                    if (!over.get()) {
                        command.endStdin();
                    }
                    return;
                }
                if (stdinQueued.addAndGet(-data.length) < STDIN_LOW && !channel.config().isAutoRead()) {
                    channel.config().setAutoRead(true);
                }
                try {
                    command.writeStdin(data);
                } catch (IOException e) {
                    LOG.fine(what + ": stdin: " + e.getMessage()); // the command closed its stdin: drop the rest
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void pumpSizes() {
        try {
            for (;;) {
                int[] size = sizes.take();
                if (size.length == 0) {
                    return;
                }
                if (sizes.isEmpty()) { // only the latest size matters
                    command.resize(size[0], size[1]);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The client's stdin stream. */
    InboundListener stdinListener() {
        return new InboundListener() {
            @Override
            public void data(ByteBuf data) {
                byte[] bytes = ByteBufUtil.getBytes(data);
                stdin.add(bytes);
                if (stdinQueued.addAndGet(bytes.length) > STDIN_HIGH) {
                    channel.config().setAutoRead(false);
                }
            }

            @Override
            public void end() {
                stdin.add(EOF);
            }
        };
    }

    /** The client's resize stream: JSON objects {"Width":w,"Height":h}, possibly split or batched. */
    InboundListener resizeListener() {
        return new InboundListener() {
            @Override
            public void data(ByteBuf data) {
                resizeBuffer.writeBytes(ByteBufUtil.getBytes(data));
                byte[] all = resizeBuffer.toByteArray();
                int start = 0;
                for (int i = 0; i < all.length; i++) {
                    if (all[i] == '}') {
                        size(new String(all, start, i + 1 - start, java.nio.charset.StandardCharsets.UTF_8));
                        start = i + 1;
                    }
                }
                resizeBuffer.reset();
                if (all.length - start > 4096) {
                    LOG.warning(what + ": resize stream carries no JSON object; ignoring it");
                } else {
                    resizeBuffer.write(all, start, all.length - start);
                }
            }

            @Override
            public void end() {
            }
        };
    }

    private void size(String json) {
        try {
            JsonNode n = JSON.readTree(json.trim());
            int w = n.path("Width").asInt(), h = n.path("Height").asInt();
            if (w > 0 && h > 0 && w <= 65535 && h <= 65535) {
                sizes.add(new int[] {w, h});
            }
        } catch (IOException e) {
            LOG.log(Level.FINE, what + ": unreadable terminal size " + json, e);
        }
    }

    /** The connection dropped: a session not over yet lets the command know. */
    void clientGone() {
        if (over.get()) {
            return;
        }
        Thread.ofVirtual().start(() -> {
            try {
                started.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (commandStarted && !over.get()) {
                LOG.fine(what + ": the client went away");
                command.abandon();
            }
        });
    }
}
