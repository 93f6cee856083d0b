package io.coracle.runtime.daemon.http2;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One gRPC call on an HTTP/2 stream, as grpc-java's {@link ServerCall}: the service's handler (with
 * its interceptors) runs against it. Listener callbacks run one at a time, in order, on virtual threads.
 * A unary call's headers, message and trailers go out in one write, at close.
 */
final class GrpcStreamCall<Q, R> extends ServerCall<Q, R> {
    private static final Logger LOG = Logger.getLogger(GrpcStreamCall.class.getName());
    private static final ThreadFactory THREADS = Thread.ofVirtual().name("cri-call").factory();

    private final Http2ServerConnection connection;
    private final Http2ServerConnection.Http2Stream stream;
    private final MethodDescriptor<Q, R> method;
    private final String authority;
    private final boolean unary;
    private final ArrayDeque<Runnable> tasks = new ArrayDeque<>(2); // guarded by itself
    private boolean running; // guarded by tasks
    private volatile boolean cancelled;
    /** Set by whichever comes first: a close that went out (onComplete) or a cancellation (onCancel). */
    private final AtomicBoolean finished = new AtomicBoolean();
    private Listener<Q> listener; // set by the first task; read by later ones

    // The caller serializes sendHeaders, sendMessage and close (ServerCall is not thread-safe).
    private byte[] headers; // response headers not sent yet
    private boolean headersSet;
    private boolean closed;
    private byte[] pending; // a unary call's framed response, sent with the trailers
    private int pendingLength;

    GrpcStreamCall(Http2ServerConnection connection, Http2ServerConnection.Http2Stream stream,
                   MethodDescriptor<Q, R> method, String authority) {
        this.connection = connection;
        this.stream = stream;
        this.method = method;
        this.authority = authority;
        this.unary = method.getType() == MethodDescriptor.MethodType.UNARY;
    }

    void start(ServerCallHandler<Q, R> handler, Metadata metadata, List<byte[]> messages) {
        run(() -> {
            listener = handler.startCall(this, metadata);
            listener.onReady();
            for (byte[] m : messages) {
                Q request;
                try {
                    request = parse(m);
                } catch (IOException | RuntimeException e) {
                    close(Status.INTERNAL.withDescription("Invalid protobuf byte sequence: " + e.getMessage()), new Metadata());
                    return;
                }
                listener.onMessage(request);
            }
            listener.onHalfClose();
        });
    }

    /** The client reset the stream or the connection ended. */
    void cancelled() {
        cancelled = true;
        if (finished.compareAndSet(false, true)) {
            run(() -> {
                if (listener != null) {
                    listener.onCancel();
                }
            });
        }
    }

    /** Flow control opened after {@link #isReady} said no. */
    void transportReady() {
        run(() -> {
            if (listener != null && !cancelled) {
                listener.onReady();
            }
        });
    }

    /** Runs the task after the ones before it, on a virtual thread; an exception from the handler ends the call. */
    private void run(Runnable task) {
        synchronized (tasks) {
            tasks.add(task);
            if (running) {
                return;
            }
            running = true;
        }
        THREADS.newThread(this::drain).start();
    }

    private void drain() {
        while (true) {
            Runnable task;
            synchronized (tasks) {
                task = tasks.poll();
                if (task == null) {
                    running = false;
                    return;
                }
            }
            try {
                task.run();
            } catch (RuntimeException | Error e) {
                LOG.log(Level.WARNING, method.getFullMethodName() + ": the handler failed", e);
                if (!closed) {
                    closed = true;
                    sendTrailers(Status.UNKNOWN.withDescription("Application error processing RPC"), new Metadata());
                }
            }
        }
    }

    @SuppressWarnings("unchecked")
    private Q parse(byte[] bytes) throws IOException {
        if (method.getRequestMarshaller() instanceof MethodDescriptor.PrototypeMarshaller<Q> p
                && p.getMessagePrototype() instanceof MessageLite prototype) {
            try {
                return (Q) prototype.getParserForType().parseFrom(bytes);
            } catch (InvalidProtocolBufferException e) {
                throw new IOException(e.getMessage(), e);
            }
        }
        return method.parseRequest(new ByteArrayInputStream(bytes));
    }

    /** A response as encoded, kept to send again if the same object is answered again. */
    private record Encoded(Object message, byte[] framed) {}

    /**
     * Per method, the last few responses encoded: an answer built once and returned again while nothing
     * changed (the lists, a running container's status) is sent without encoding it again. By identity;
     * only responses up to {@link #ENCODED_MAX} bytes.
     */
    private static final Map<String, Slots> ENCODED = new ConcurrentHashMap<>();
    private static final int ENCODED_MAX = 256 << 10;

    private record Slots(AtomicReferenceArray<Encoded> slots, AtomicInteger next) {}

    private byte[] framed(R message) {
        Slots s = ENCODED.computeIfAbsent(method.getFullMethodName(),
                k -> new Slots(new AtomicReferenceArray<>(4), new AtomicInteger()));
        for (int i = 0; i < s.slots().length(); i++) {
            Encoded e = s.slots().get(i);
            if (e != null && e.message() == message) {
                return e.framed();
            }
        }
        byte[] framed = encode(message);
        if (framed.length <= ENCODED_MAX) {
            s.slots().set(Math.floorMod(s.next().getAndIncrement(), s.slots().length()), new Encoded(message, framed));
        }
        return framed;
    }

    /** The message with gRPC's 5-byte prefix (uncompressed, length). */
    private byte[] encode(R message) {
        try {
            if (message instanceof MessageLite m) {
                int size = m.getSerializedSize();
                byte[] out = new byte[5 + size];
                prefix(out, size);
                CodedOutputStream cos = CodedOutputStream.newInstance(out, 5, size);
                m.writeTo(cos);
                cos.checkNoSpaceLeft();
                return out;
            }
            try (InputStream in = method.streamResponse(message)) {
                byte[] body = in.readAllBytes();
                byte[] out = new byte[5 + body.length];
                prefix(out, body.length);
                System.arraycopy(body, 0, out, 5, body.length);
                return out;
            }
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("cannot serialize the response: " + e.getMessage()).withCause(e)
                    .asRuntimeException();
        }
    }

    private static void prefix(byte[] out, int size) {
        out[1] = (byte) (size >>> 24);
        out[2] = (byte) (size >>> 16);
        out[3] = (byte) (size >>> 8);
        out[4] = (byte) size;
    }

    @Override
    public void request(int numMessages) {
        // The request is whole before the call starts: every message is delivered at once.
    }

    @Override
    public void sendHeaders(Metadata metadata) {
        if (headersSet || closed) {
            throw new IllegalStateException(closed ? "call is closed" : "sendHeaders has already been called");
        }
        headersSet = true;
        headers = Http2ServerConnection.responseHeaders(metadata);
    }

    @Override
    public void sendMessage(R message) {
        if (!headersSet || closed) {
            throw new IllegalStateException(closed ? "call is closed" : "sendHeaders has not been called");
        }
        if (cancelled) {
            return;
        }
        byte[] framed = framed(message);
        if (unary) {
            if (pending == null) {
                pending = framed;
                pendingLength = framed.length;
            } else { // a second message on a unary call: grpc-stub never does this, the client rejects it
                byte[] both = java.util.Arrays.copyOf(pending, pendingLength + framed.length);
                System.arraycopy(framed, 0, both, pendingLength, framed.length);
                pending = both;
                pendingLength = both.length;
            }
            return;
        }
        byte[] h = headers;
        headers = null;
        if (!connection.send(stream, h, framed, framed.length, null)) {
            cancelled();
        }
    }

    @Override
    public void close(Status status, Metadata trailers) {
        if (closed) {
            throw new IllegalStateException("call already closed");
        }
        closed = true;
        sendTrailers(status, trailers);
    }

    private void sendTrailers(Status status, Metadata trailers) {
        if (cancelled) {
            return;
        }
        boolean sent;
        if (!headersSet) { // no headers and no message: a trailers-only response
            sent = connection.send(stream, null, null, 0, Http2ServerConnection.trailersOnly(status, trailers));
        } else {
            byte[] block = Http2ServerConnection.trailers(new java.util.ArrayList<>(3), status, trailers);
            sent = connection.send(stream, headers, pending, pendingLength, block);
        }
        headers = null;
        pending = null;
        if (!sent) {
            cancelled();
        } else if (finished.compareAndSet(false, true)) {
            run(() -> {
                if (listener != null) {
                    listener.onComplete();
                }
            });
        }
    }

    @Override
    public boolean isReady() {
        return !cancelled && !closed && connection.isReady(stream);
    }

    @Override
    public boolean isCancelled() {
        return cancelled;
    }

    @Override
    public MethodDescriptor<Q, R> getMethodDescriptor() {
        return method;
    }

    @Override
    public String getAuthority() {
        return authority;
    }
}
