package io.coracle.runtime.streaming;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * A streaming attach: the container's own stdio through its shim's attach socket (framing in
 * native/src/main/c/attach.h). Several may be attached at once. When the client's stdin ends:
 * with stdin_once the container's stdin is closed for everyone; a non-tty stdin_once attach then
 * stays until the container exits, every other attach ends there. The attach also ends when the
 * container exits.
 */
final class AttachCommand implements StreamedCommand {
    private static final byte STDIN = 0, STDOUT = 1, STDERR = 2, RESIZE = 3, CLOSE_STDIN = 4;

    private final Path attachSocket;
    private final boolean stdinOnce, tty, stdin;
    private final CountDownLatch ended = new CountDownLatch(1);
    private SocketChannel socket;
    private boolean stdinClosed;

    AttachCommand(Path attachSocket, boolean stdinOnce, boolean tty, boolean stdin) {
        this.attachSocket = attachSocket;
        this.stdinOnce = stdinOnce;
        this.tty = tty;
        this.stdin = stdin;
    }

    @Override
    public void start(OutputSink stdout, OutputSink stderr) throws IOException {
        try {
            socket = SocketChannel.open(UnixDomainSocketAddress.of(attachSocket));
        } catch (IOException e) {
            throw new IOException("cannot attach: " + attachSocket + ": " + e.getMessage(), e);
        }
        Thread.ofVirtual().name("attach-out").start(() -> {
            try {
                readFrames(stdout, stderr);
            } finally {
                ended.countDown();
            }
        });
    }

    private void readFrames(OutputSink stdout, OutputSink stderr) {
        ByteBuffer head = ByteBuffer.allocate(5);
        byte[] payload = new byte[64 * 1024];
        try {
            for (;;) {
                head.clear();
                if (!readFully(head)) {
                    return;
                }
                int type = head.get(0), length = head.getInt(1);
                if (length < 0 || length > 16 << 20) {
                    return; // not our shim's framing
                }
                if (length > payload.length) {
                    payload = new byte[length];
                }
                if (!readFully(ByteBuffer.wrap(payload, 0, length))) {
                    return;
                }
                OutputSink sink = type == STDOUT ? stdout : type == STDERR ? (tty ? stdout : stderr) : null;
                if (sink != null && !sink.write(payload, length)) {
                    return; // the client is gone
                }
            }
        } catch (IOException e) {
            // the socket closed: the container exited, or we ended the attach
        }
    }

    private boolean readFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (socket.read(b) < 0) {
                return false;
            }
        }
        return true;
    }

    private synchronized void send(byte type, byte[] data) throws IOException {
        ByteBuffer frame = ByteBuffer.allocate(5 + data.length).put(type).putInt(data.length).put(data).flip();
        while (frame.hasRemaining()) {
            socket.write(frame);
        }
    }

    @Override
    public CommandOutcome awaitEnd() throws InterruptedException {
        ended.await();
        try {
            socket.close();
        } catch (IOException e) {
            // closed already
        }
        return CommandOutcome.success();
    }

    @Override
    public void writeStdin(byte[] data) throws IOException {
        send(STDIN, data);
    }

    @Override
    public void endStdin() {
        closeContainerStdin();
        if (!(stdinOnce && !tty)) {
            ended.countDown();
        }
    }

    private synchronized void closeContainerStdin() {
        if (stdinOnce && stdin && !stdinClosed) {
            stdinClosed = true;
            try {
                send(CLOSE_STDIN, new byte[0]);
            } catch (IOException e) {
                // the container is gone
            }
        }
    }

    @Override
    public void resize(int width, int height) {
        try {
            send(RESIZE, (height + " " + width).getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            // the container is gone
        }
    }

    @Override
    public void abandon() {
        if (socket == null) {
            return;
        }
        closeContainerStdin();
        ended.countDown();
    }
}
