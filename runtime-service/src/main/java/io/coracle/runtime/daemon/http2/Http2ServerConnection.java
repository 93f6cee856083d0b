package io.coracle.runtime.daemon.http2;

import static io.coracle.runtime.daemon.http2.Http2Codes.*;

import io.grpc.Metadata;
import io.grpc.MethodDescriptor.MethodType;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One client connection of the gRPC server: the server side of HTTP/2 (RFC 9113) as gRPC uses it.
 * One thread reads frames; each call runs on its own thread and writes its response itself, under the
 * connection's write lock, in as few writes as flow control allows (a unary answer is one write).
 * Everything the client sends is bounded: frame sizes, header blocks, header lists, messages, streams.
 */
final class Http2ServerConnection {
    private static final Logger LOG = Logger.getLogger(Http2ServerConnection.class.getName());

    static final int MAX_CONCURRENT_STREAMS = 512;
    static final int STREAM_WINDOW = 1 << 20;
    static final int CONNECTION_WINDOW = 16 << 20;
    static final int HEADER_TABLE_SIZE = 4096;
    /** gRPC's usual limit on request metadata, as RFC 9113 counts it (name + value + 32 per field). */
    static final int MAX_HEADER_LIST_SIZE = 8192;
    /** Encoded header bytes buffered across CONTINUATION frames before the connection is refused. */
    static final int MAX_HEADER_BLOCK = 64 << 10;
    static final int MAX_MESSAGE = 16 << 20;
    /** Frames we send are at most this long, whatever larger size the client allows. */
    private static final int MAX_SEND_FRAME = 1 << 20;

    private final SocketChannel channel;
    private final UnixGrpcServer server;
    private final long number;
    private final Map<Integer, Http2Stream> streams = new ConcurrentHashMap<>();

    // Read side: the reader thread only.
    private final ByteBuffer in = ByteBuffer.allocate(32 << 10).flip();
    private final HpackDecoder hpack = new HpackDecoder(HEADER_TABLE_SIZE, MAX_HEADER_LIST_SIZE);
    private byte[] headerBlock = new byte[1024];
    private int headerBlockLength;
    private int headerStream; // the stream whose header block continues in CONTINUATION frames, or 0
    private boolean headerEndStream;
    private int connectionUnacked; // DATA bytes received and not yet given back in a WINDOW_UPDATE
    private volatile int lastStreamId;

    // Write side, guarded by writeLock.
    private final ReentrantLock writeLock = new ReentrantLock();
    private final Condition windowOpened = writeLock.newCondition();
    private long connectionSendWindow = DEFAULT_WINDOW;
    private int peerInitialWindow = DEFAULT_WINDOW;
    private int peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
    private boolean goAwaySent;
    private volatile boolean closed;
    private final java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();

    Http2ServerConnection(SocketChannel channel, UnixGrpcServer server, long number) {
        this.channel = channel;
        this.server = server;
        this.number = number;
    }

    /** One stream (one call). Reader-side fields are touched by the reader thread only. */
    static final class Http2Stream {
        final int id;
        // Read side.
        Http2Request request;
        boolean remoteClosed;
        int unacked;
        private List<byte[]> messages = new ArrayList<>(1);
        private final byte[] prefix = new byte[5];
        private int prefixFill;
        private byte[] message;
        private int messageLength = -1; // length of the message being received, -1 between messages
        private int messageFill;
        // Write side, guarded by the connection's write lock.
        long sendWindow;
        boolean reset;
        boolean wantsReady;
        volatile GrpcStreamCall<?, ?> call;

        Http2Stream(int id, int sendWindow) {
            this.id = id;
            this.sendWindow = sendWindow;
        }

        /**
         * Takes DATA payload bytes into length-prefixed gRPC messages; the error to answer with when
         * the client breaks gRPC's framing or limits, else null.
         */
        Status take(byte[] b, int off, int len) {
            while (len > 0) {
                if (messageLength < 0) {
                    int n = Math.min(5 - prefixFill, len);
                    System.arraycopy(b, off, prefix, prefixFill, n);
                    prefixFill += n;
                    off += n;
                    len -= n;
                    if (prefixFill < 5) {
                        return null;
                    }
                    prefixFill = 0;
                    if (prefix[0] != 0) {
                        return Status.INTERNAL.withDescription(prefix[0] == 1
                                ? "compressed gRPC message, but no grpc-encoding is accepted here (identity only)"
                                : "gRPC message flag " + (prefix[0] & 0xff) + " is neither 0 nor 1");
                    }
                    long size = (prefix[1] & 0xffL) << 24 | (prefix[2] & 0xff) << 16 | (prefix[3] & 0xff) << 8
                            | prefix[4] & 0xff;
                    if (size > MAX_MESSAGE) {
                        return Status.RESOURCE_EXHAUSTED.withDescription(
                                "gRPC message exceeds maximum size " + MAX_MESSAGE + ": " + size);
                    }
                    if (messages.size() == 1) {
                        return Status.INTERNAL.withDescription("more than one request message for a call that takes one");
                    }
                    messageLength = (int) size;
                    // Grown as bytes arrive: a length prefix alone never allocates the length.
                    message = new byte[Math.min(messageLength, 16 << 10)];
                    messageFill = 0;
                } else {
                    int n = Math.min(messageLength - messageFill, len);
                    if (messageFill + n > message.length) {
                        message = Arrays.copyOf(message, (int) Math.min(messageLength, Math.max(2L * message.length,
                                messageFill + n)));
                    }
                    System.arraycopy(b, off, message, messageFill, n);
                    messageFill += n;
                    off += n;
                    len -= n;
                }
                if (messageLength >= 0 && messageFill == messageLength) {
                    messages.add(message);
                    message = null;
                    messageLength = -1;
                }
            }
            return null;
        }

        /** The error for a stream that ends inside a message, else null. */
        Status endOfMessages() {
            return prefixFill != 0 || messageLength >= 0
                    ? Status.INTERNAL.withDescription("the request ended inside a gRPC message") : null;
        }
    }

    /** The request line of a call: what its validated header fields say. */
    record Http2Request(String path, String authority, Metadata metadata) {}

    // ------------------------------------------------------------------ reading

    /** Serves the connection until the client closes it or breaks the protocol. */
    void serve() {
        try {
            readPreface();
            FrameBuffer out = new FrameBuffer(64);
            out.header(18, SETTINGS, 0, 0);
            out.int16(SETTINGS_MAX_CONCURRENT_STREAMS);
            out.int32(MAX_CONCURRENT_STREAMS);
            out.int16(SETTINGS_INITIAL_WINDOW_SIZE);
            out.int32(STREAM_WINDOW);
            out.int16(SETTINGS_MAX_HEADER_LIST_SIZE);
            out.int32(MAX_HEADER_LIST_SIZE);
            out.windowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW);
            writeControl(out);
            while (true) {
                readFrame();
            }
        } catch (Http2ConnectionError e) {
            LOG.info("CRI connection " + number + " closed: " + codeName(e.code) + ": " + e.getMessage());
            FrameBuffer out = new FrameBuffer(300);
            out.goAway(lastStreamId, e.code, e.getMessage());
            try {
                writeControl(out);
            } catch (IOException ignored) {
                // the connection ends anyway
            }
        } catch (EOFException | ClosedChannelException e) {
            // the client went away, or the server closed the connection
        } catch (IOException e) {
            if (!closed) {
                LOG.log(Level.FINE, "CRI connection " + number + " failed", e);
            }
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "CRI connection " + number + " failed", e);
        } finally {
            close();
        }
    }

    private void need(int n) throws IOException {
        if (in.remaining() >= n) {
            return;
        }
        in.compact();
        try {
            while (in.position() < n) {
                if (channel.read(in) < 0) {
                    throw new EOFException();
                }
            }
        } finally {
            in.flip();
        }
    }

    private void readPreface() throws IOException, Http2ConnectionError {
        need(PREFACE.length);
        byte[] got = new byte[PREFACE.length];
        in.get(got);
        if (!Arrays.equals(got, PREFACE)) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "not the HTTP/2 connection preface (a gRPC client speaks HTTP/2 with prior knowledge)");
        }
    }

    private void readFrame() throws IOException, Http2ConnectionError {
        need(FRAME_HEADER);
        int length = (in.get() & 0xff) << 16 | (in.get() & 0xff) << 8 | in.get() & 0xff;
        int type = in.get() & 0xff;
        int flags = in.get() & 0xff;
        int streamId = in.getInt() & Integer.MAX_VALUE;
        if (length > DEFAULT_MAX_FRAME_SIZE) {
            throw new Http2ConnectionError(FRAME_SIZE_ERROR, "a frame of " + length + " bytes; at most "
                    + DEFAULT_MAX_FRAME_SIZE + " are accepted");
        }
        need(length);
        int off = in.position();
        in.position(off + length);
        byte[] b = in.array();
        if (headerStream != 0 && type != CONTINUATION) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "frame type " + type + " inside the header block of stream "
                    + headerStream);
        }
        switch (type) {
            case DATA -> onData(flags, streamId, b, off, length);
            case HEADERS -> onHeaders(flags, streamId, b, off, length);
            case PRIORITY -> onPriority(streamId, length);
            case RST_STREAM -> onRstStream(streamId, b, off, length);
            case SETTINGS -> onSettings(flags, streamId, b, off, length);
            case PUSH_PROMISE -> throw new Http2ConnectionError(PROTOCOL_ERROR, "PUSH_PROMISE from a client");
            case PING -> onPing(flags, streamId, b, off, length);
            case GOAWAY -> {
                if (streamId != 0) {
                    throw new Http2ConnectionError(PROTOCOL_ERROR, "GOAWAY on stream " + streamId);
                }
            }
            case WINDOW_UPDATE -> onWindowUpdate(streamId, b, off, length);
            case CONTINUATION -> onContinuation(flags, streamId, b, off, length);
            default -> { } // unknown frame types are ignored (RFC 9113 4.1)
        }
    }

    private static int int32(byte[] b, int off) {
        return (b[off] & 0xff) << 24 | (b[off + 1] & 0xff) << 16 | (b[off + 2] & 0xff) << 8 | b[off + 3] & 0xff;
    }

    /** The payload length once padding is removed; the padding's length byte is at {@code b[off]}. */
    private static int unpadded(byte[] b, int off, int length, int type) throws Http2ConnectionError {
        if (length < 1 || (b[off] & 0xff) >= length) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "padding of frame type " + type + " longer than its payload");
        }
        return length - 1 - (b[off] & 0xff);
    }

    private void onData(int flags, int streamId, byte[] b, int off, int length) throws IOException, Http2ConnectionError {
        if (streamId == 0) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "DATA on stream 0");
        }
        int dataOff = off;
        int dataLength = length;
        if ((flags & FLAG_PADDED) != 0) {
            dataLength = unpadded(b, off, length, DATA);
            dataOff = off + 1;
        }
        connectionUnacked += length;
        if (connectionUnacked > CONNECTION_WINDOW) {
            throw new Http2ConnectionError(FLOW_CONTROL_ERROR, "DATA beyond the connection's flow-control window");
        }
        FrameBuffer out = null;
        if (connectionUnacked >= CONNECTION_WINDOW / 2) {
            out = new FrameBuffer(26);
            out.windowUpdate(0, connectionUnacked);
            connectionUnacked = 0;
        }
        Http2Stream s = streams.get(streamId);
        if (s == null) {
            if (streamId > lastStreamId) {
                throw new Http2ConnectionError(PROTOCOL_ERROR, "DATA on idle stream " + streamId);
            }
            // A stream already answered or reset: its DATA only counts against the connection's window.
        } else if (s.remoteClosed) {
            resetStream(s, STREAM_CLOSED);
        } else if ((s.unacked += length) > STREAM_WINDOW) {
            resetStream(s, FLOW_CONTROL_ERROR);
        } else if (s.call == null) {
            Status error = s.take(b, dataOff, dataLength);
            if (error == null && (flags & FLAG_END_STREAM) != 0) {
                s.remoteClosed = true;
                error = s.endOfMessages();
                if (error == null) {
                    dispatch(s);
                }
            } else if (error == null && s.unacked >= STREAM_WINDOW / 2) {
                out = out == null ? new FrameBuffer(13) : out;
                out.windowUpdate(s.id, s.unacked);
                s.unacked = 0;
            }
            if (error != null) {
                answer(s, error);
            }
        }
        if (out != null) {
            writeControl(out);
        }
    }

    private void onHeaders(int flags, int streamId, byte[] b, int off, int length) throws IOException, Http2ConnectionError {
        if (streamId == 0 || (streamId & 1) == 0) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "HEADERS on stream " + streamId + " (client streams are odd)");
        }
        int blockOff = off;
        int blockLength = length;
        if ((flags & FLAG_PADDED) != 0) {
            blockLength = unpadded(b, off, length, HEADERS);
            blockOff++;
        }
        if ((flags & FLAG_PRIORITY) != 0) {
            if (blockLength < 5) {
                throw new Http2ConnectionError(FRAME_SIZE_ERROR, "HEADERS too short for its priority fields");
            }
            blockOff += 5;
            blockLength -= 5;
        }
        headerStream = streamId;
        headerEndStream = (flags & FLAG_END_STREAM) != 0;
        headerBlockLength = 0;
        appendHeaderBlock(b, blockOff, blockLength);
        if ((flags & FLAG_END_HEADERS) != 0) {
            endOfHeaders();
        }
    }

    private void onContinuation(int flags, int streamId, byte[] b, int off, int length) throws IOException, Http2ConnectionError {
        if (headerStream == 0 || streamId != headerStream) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "CONTINUATION on stream " + streamId + " outside a header block");
        }
        appendHeaderBlock(b, off, length);
        if ((flags & FLAG_END_HEADERS) != 0) {
            endOfHeaders();
        }
    }

    private void appendHeaderBlock(byte[] b, int off, int length) throws Http2ConnectionError {
        if (headerBlockLength + length > MAX_HEADER_BLOCK) {
            throw new Http2ConnectionError(ENHANCE_YOUR_CALM, "a header block over " + MAX_HEADER_BLOCK + " bytes");
        }
        if (headerBlockLength + length > headerBlock.length) {
            headerBlock = Arrays.copyOf(headerBlock, Math.max(headerBlock.length * 2, headerBlockLength + length));
        }
        System.arraycopy(b, off, headerBlock, headerBlockLength, length);
        headerBlockLength += length;
    }

    private void endOfHeaders() throws IOException, Http2ConnectionError {
        int streamId = headerStream;
        headerStream = 0;
        DecodedHeaders headers;
        try {
            headers = hpack.decode(headerBlock, 0, headerBlockLength);
        } catch (HpackException e) {
            throw new Http2ConnectionError(COMPRESSION_ERROR, "header block of stream " + streamId + ": " + e.getMessage());
        }
        if (headerBlock.length > 16 << 10) {
            headerBlock = new byte[1024];
        }
        Http2Stream s = streams.get(streamId);
        if (s != null) { // trailers of a request: they end it
            if (!headerEndStream || s.remoteClosed) {
                resetStream(s, s.remoteClosed ? STREAM_CLOSED : PROTOCOL_ERROR);
                return;
            }
            s.remoteClosed = true;
            if (s.call == null) {
                Status error = s.endOfMessages();
                if (error == null) {
                    dispatch(s);
                } else {
                    answer(s, error);
                }
            }
            return;
        }
        if (streamId <= lastStreamId) {
            throw new Http2ConnectionError(STREAM_CLOSED, "HEADERS on closed stream " + streamId);
        }
        lastStreamId = streamId;
        writeLock.lock();
        try {
            s = new Http2Stream(streamId, peerInitialWindow);
            if (goAwaySent || streams.size() >= MAX_CONCURRENT_STREAMS) {
                FrameBuffer out = new FrameBuffer(13);
                out.rstStream(streamId, REFUSED_STREAM);
                write(out);
                return;
            }
            streams.put(streamId, s);
        } finally {
            writeLock.unlock();
        }
        s.remoteClosed = headerEndStream;
        if (headers.overLimit()) {
            answer(s, Status.RESOURCE_EXHAUSTED.withDescription("the request's headers exceed " + MAX_HEADER_LIST_SIZE
                    + " bytes"));
            return;
        }
        Object request = request(headers.fields());
        if (request instanceof Status error) {
            answer(s, error);
            return;
        }
        s.request = (Http2Request) request;
        if (s.remoteClosed) {
            dispatch(s);
        }
    }

    /** The request's path, authority and metadata, or the status that refuses it. */
    private static Object request(List<HeaderField> fields) {
        String method = null;
        String path = null;
        String authority = null;
        String contentType = null;
        Metadata metadata = new Metadata();
        boolean regular = false;
        for (HeaderField f : fields) {
            String name = f.name();
            String value = f.value();
            if (name.startsWith(":")) {
                if (regular) {
                    return malformed("pseudo-header " + name + " after a regular header");
                }
                switch (name) {
                    case ":method" -> method = value;
                    case ":path" -> path = value;
                    case ":authority" -> authority = value;
                    case ":scheme" -> { }
                    default -> {
                        return malformed("unknown pseudo-header " + name);
                    }
                }
                continue;
            }
            regular = true;
            switch (name) {
                case "content-type" -> contentType = value;
                case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade" -> {
                    return malformed("connection-specific header " + name);
                }
                case "te" -> {
                    if (!value.equals("trailers")) {
                        return malformed("te: " + value);
                    }
                }
                case "grpc-encoding" -> {
                    if (!value.equals("identity")) {
                        return Status.UNIMPLEMENTED.withDescription("grpc-encoding " + value
                                + " is not supported: send uncompressed messages (identity)");
                    }
                }
                case "grpc-accept-encoding", "grpc-timeout" -> { } // responses are uncompressed; the client keeps its deadline
                default -> addMetadata(metadata, name, value);
            }
        }
        if (method == null || path == null) {
            return malformed("a request without :method or :path");
        }
        if (!method.equals("POST")) {
            return Status.UNIMPLEMENTED.withDescription("HTTP method " + method + ": gRPC calls are POST");
        }
        if (contentType == null || !(contentType.equals("application/grpc") || contentType.startsWith("application/grpc+")
                || contentType.startsWith("application/grpc;"))) {
            return Status.INTERNAL.withDescription("content-type " + contentType + " is not application/grpc");
        }
        if (!path.startsWith("/")) {
            return malformed(":path " + path + " does not start with /");
        }
        return new Http2Request(path, authority, metadata);
    }

    private static Status malformed(String what) {
        return Status.INTERNAL.withDescription("malformed HTTP/2 request: " + what);
    }

    private static void addMetadata(Metadata metadata, String name, String value) {
        try {
            if (name.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
                byte[] bytes = Base64.getDecoder().decode(stripPadding(value));
                metadata.put(Metadata.Key.of(name, Metadata.BINARY_BYTE_MARSHALLER), bytes);
            } else {
                metadata.put(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER), value);
            }
        } catch (IllegalArgumentException e) {
            // a header gRPC cannot carry as metadata (name or base64 it refuses): not passed on
        }
    }

    private static String stripPadding(String v) {
        int end = v.length();
        while (end > 0 && v.charAt(end - 1) == '=') {
            end--;
        }
        // The JDK decoder takes unpadded input; padding is optional in gRPC's binary headers.
        return v.substring(0, end);
    }

    /** Starts the call of a stream whose request is complete. */
    private void dispatch(Http2Stream s) throws IOException {
        Http2Request request = s.request;
        ServerMethodDefinition<?, ?> definition = server.method(request.path().substring(1));
        if (definition == null) {
            answer(s, Status.UNIMPLEMENTED.withDescription("Method not found: " + request.path().substring(1)));
            return;
        }
        MethodType type = definition.getMethodDescriptor().getType();
        if (type != MethodType.UNARY && type != MethodType.SERVER_STREAMING) {
            answer(s, Status.UNIMPLEMENTED.withDescription(type + " methods are not served"));
            return;
        }
        List<byte[]> messages = s.messages;
        s.messages = null;
        start(definition, s, messages);
    }

    private <Q, R> void start(ServerMethodDefinition<Q, R> definition, Http2Stream s, List<byte[]> messages) {
        GrpcStreamCall<Q, R> call = new GrpcStreamCall<>(this, s, definition.getMethodDescriptor(), s.request.authority());
        s.call = call;
        call.start(definition.getServerCallHandler(), s.request.metadata(), messages);
    }

    private void onPriority(int streamId, int length) throws Http2ConnectionError {
        if (streamId == 0) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "PRIORITY on stream 0");
        }
        if (length != 5) {
            throw new Http2ConnectionError(FRAME_SIZE_ERROR, "PRIORITY of " + length + " bytes");
        }
    }

    private void onRstStream(int streamId, byte[] b, int off, int length) throws Http2ConnectionError {
        if (streamId == 0 || length != 4) {
            throw new Http2ConnectionError(streamId == 0 ? PROTOCOL_ERROR : FRAME_SIZE_ERROR, "RST_STREAM on stream "
                    + streamId + " of " + length + " bytes");
        }
        if (streamId > lastStreamId) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "RST_STREAM on idle stream " + streamId);
        }
        Http2Stream s = streams.remove(streamId);
        if (s != null) {
            cancel(s);
        }
    }

    private void onSettings(int flags, int streamId, byte[] b, int off, int length) throws IOException, Http2ConnectionError {
        if (streamId != 0) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "SETTINGS on stream " + streamId);
        }
        if ((flags & FLAG_ACK) != 0) {
            if (length != 0) {
                throw new Http2ConnectionError(FRAME_SIZE_ERROR, "SETTINGS acknowledgement with a payload");
            }
            return;
        }
        if (length % 6 != 0) {
            throw new Http2ConnectionError(FRAME_SIZE_ERROR, "SETTINGS of " + length + " bytes");
        }
        writeLock.lock();
        try {
            for (int at = off; at < off + length; at += 6) {
                int id = (b[at] & 0xff) << 8 | b[at + 1] & 0xff;
                long value = int32(b, at + 2) & 0xffffffffL;
                switch (id) {
                    case SETTINGS_ENABLE_PUSH -> {
                        if (value > 1) {
                            throw new Http2ConnectionError(PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH " + value);
                        }
                    }
                    case SETTINGS_INITIAL_WINDOW_SIZE -> {
                        if (value > MAX_WINDOW) {
                            throw new Http2ConnectionError(FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE " + value);
                        }
                        long delta = value - peerInitialWindow;
                        for (Http2Stream s : streams.values()) {
                            s.sendWindow += delta;
                            if (s.sendWindow > MAX_WINDOW) {
                                throw new Http2ConnectionError(FLOW_CONTROL_ERROR, "a stream's window over 2^31-1");
                            }
                        }
                        peerInitialWindow = (int) value;
                    }
                    case SETTINGS_MAX_FRAME_SIZE -> {
                        if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff) {
                            throw new Http2ConnectionError(PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE " + value);
                        }
                        peerMaxFrame = (int) Math.min(value, MAX_SEND_FRAME);
                    }
                    default -> { } // the header table (our encoder never indexes), list size, streams: nothing to do
                }
            }
            FrameBuffer out = new FrameBuffer(9);
            out.header(0, SETTINGS, FLAG_ACK, 0);
            write(out);
            windowOpened.signalAll();
            readyAgain();
        } finally {
            writeLock.unlock();
        }
    }

    private void onPing(int flags, int streamId, byte[] b, int off, int length) throws IOException, Http2ConnectionError {
        if (streamId != 0 || length != 8) {
            throw new Http2ConnectionError(streamId != 0 ? PROTOCOL_ERROR : FRAME_SIZE_ERROR, "PING on stream " + streamId
                    + " of " + length + " bytes");
        }
        if ((flags & FLAG_ACK) == 0) {
            FrameBuffer out = new FrameBuffer(17);
            out.header(8, PING, FLAG_ACK, 0);
            out.bytes(b, off, 8);
            writeControl(out);
        }
    }

    private void onWindowUpdate(int streamId, byte[] b, int off, int length) throws IOException, Http2ConnectionError {
        if (length != 4) {
            throw new Http2ConnectionError(FRAME_SIZE_ERROR, "WINDOW_UPDATE of " + length + " bytes");
        }
        int increment = int32(b, off) & Integer.MAX_VALUE;
        if (streamId == 0) {
            if (increment == 0) {
                throw new Http2ConnectionError(PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection");
            }
            writeLock.lock();
            try {
                connectionSendWindow += increment;
                if (connectionSendWindow > MAX_WINDOW) {
                    throw new Http2ConnectionError(FLOW_CONTROL_ERROR, "the connection's window over 2^31-1");
                }
                windowOpened.signalAll();
                readyAgain();
            } finally {
                writeLock.unlock();
            }
            return;
        }
        if (streamId > lastStreamId) {
            throw new Http2ConnectionError(PROTOCOL_ERROR, "WINDOW_UPDATE on idle stream " + streamId);
        }
        Http2Stream s = streams.get(streamId);
        if (s == null) {
            return;
        }
        if (increment == 0) {
            resetStream(s, PROTOCOL_ERROR);
            return;
        }
        boolean overflow;
        writeLock.lock();
        try {
            s.sendWindow += increment;
            overflow = s.sendWindow > MAX_WINDOW;
            if (!overflow) {
                windowOpened.signalAll();
                readyAgain();
            }
        } finally {
            writeLock.unlock();
        }
        if (overflow) {
            resetStream(s, FLOW_CONTROL_ERROR);
        }
    }

    /** Tells the calls that found the transport full that it takes more again. Holds the write lock. */
    private void readyAgain() {
        if (connectionSendWindow <= 0) {
            return;
        }
        for (Http2Stream s : streams.values()) {
            if (s.wantsReady && s.sendWindow > 0) {
                s.wantsReady = false;
                GrpcStreamCall<?, ?> call = s.call;
                if (call != null) {
                    call.transportReady();
                }
            }
        }
    }

    // ------------------------------------------------------------------ writing

    /** Answers a stream before its call starts (or instead of it): a trailers-only response, then the stream is gone. */
    private void answer(Http2Stream s, Status status) throws IOException {
        byte[] block = trailersOnly(status, null);
        writeLock.lock();
        try {
            streams.remove(s.id);
            FrameBuffer out = new FrameBuffer(block.length + 32);
            out.headers(s.id, block, true, peerMaxFrame);
            if (!s.remoteClosed) {
                out.rstStream(s.id, NO_ERROR); // the rest of the request is not wanted
            }
            write(out);
        } finally {
            writeLock.unlock();
        }
    }

    private void resetStream(Http2Stream s, int code) throws IOException {
        streams.remove(s.id);
        FrameBuffer out = new FrameBuffer(13);
        out.rstStream(s.id, code);
        writeControl(out);
        cancel(s);
    }

    private void cancel(Http2Stream s) {
        writeLock.lock();
        try {
            s.reset = true;
            windowOpened.signalAll();
        } finally {
            writeLock.unlock();
        }
        GrpcStreamCall<?, ?> call = s.call;
        if (call != null) {
            call.cancelled();
        }
    }

    /** Frames the reader sends (acknowledgements, window updates, resets). */
    private void writeControl(FrameBuffer out) throws IOException {
        writeLock.lock();
        try {
            write(out);
        } finally {
            writeLock.unlock();
        }
    }

    /** Writes out all of {@code out}. Holds the write lock. */
    private void write(FrameBuffer out) throws IOException {
        if (closed) {
            throw new ClosedChannelException();
        }
        ByteBuffer b = out.asByteBuffer();
        try {
            while (b.hasRemaining()) {
                channel.write(b);
            }
        } catch (IOException e) {
            closed = true;
            windowOpened.signalAll();
            throw e;
        }
        out.clear();
    }

    /**
     * Sends (parts of) a call's response: its headers, gRPC-framed message bytes (within the flow-control
     * windows, waiting for the client to open them) and its trailers, which end the stream. False when the
     * stream was reset or the connection is gone: nothing more can be sent.
     */
    boolean send(Http2Stream s, byte[] headers, byte[] data, int dataLength, byte[] trailers) {
        writeLock.lock();
        try {
            if (s.reset || closed) {
                return false;
            }
            FrameBuffer out = new FrameBuffer((headers == null ? 0 : headers.length + 9) + dataLength
                    + 9 * (1 + dataLength / DEFAULT_MAX_FRAME_SIZE) + (trailers == null ? 0 : trailers.length + 9));
            if (headers != null) {
                out.headers(s.id, headers, data == null && trailers == null, peerMaxFrame);
            }
            for (int at = 0; at < dataLength; ) {
                long allowed = Math.min(connectionSendWindow, s.sendWindow);
                if (allowed <= 0) {
                    write(out);
                    s.wantsReady = true;
                    windowOpened.await();
                    if (s.reset || closed) {
                        return false;
                    }
                    continue;
                }
                int n = (int) Math.min(Math.min(allowed, dataLength - at), peerMaxFrame);
                out.data(s.id, data, at, n, false);
                connectionSendWindow -= n;
                s.sendWindow -= n;
                at += n;
            }
            if (trailers != null) {
                out.headers(s.id, trailers, true, peerMaxFrame);
            }
            write(out);
            if (trailers != null) {
                streams.remove(s.id); // in flight until its last byte is written
            }
            return true;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            writeLock.unlock();
        }
    }

    /** Whether the stream's message would go out now; if not, the call hears when it would. */
    boolean isReady(Http2Stream s) {
        writeLock.lock();
        try {
            boolean ready = !s.reset && !closed && connectionSendWindow > 0 && s.sendWindow > 0;
            if (!ready) {
                s.wantsReady = true;
            }
            return ready;
        } finally {
            writeLock.unlock();
        }
    }

    static byte[] trailersOnly(Status status, Metadata trailers) {
        List<HeaderField> fields = new ArrayList<>(6);
        fields.add(new HeaderField(":status", "200"));
        fields.add(new HeaderField("content-type", "application/grpc"));
        return trailers(fields, status, trailers);
    }

    static byte[] trailers(List<HeaderField> fields, Status status, Metadata trailers) {
        fields.add(new HeaderField("grpc-status", Integer.toString(status.getCode().value())));
        if (status.getDescription() != null) {
            fields.add(new HeaderField("grpc-message", percentEncoded(status.getDescription())));
        }
        if (trailers != null) {
            addFields(fields, trailers);
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(64);
        HpackEncoder.encode(fields, out);
        return out.toByteArray();
    }

    static byte[] responseHeaders(Metadata headers) {
        List<HeaderField> fields = new ArrayList<>(4);
        fields.add(new HeaderField(":status", "200"));
        fields.add(new HeaderField("content-type", "application/grpc"));
        addFields(fields, headers);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(32);
        HpackEncoder.encode(fields, out);
        return out.toByteArray();
    }

    private static void addFields(List<HeaderField> fields, Metadata metadata) {
        for (String key : metadata.keys()) {
            switch (key) {
                case "grpc-status", "grpc-message", "content-type" -> { } // ours to set
                default -> {
                    if (key.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
                        for (byte[] v : metadata.getAll(Metadata.Key.of(key, Metadata.BINARY_BYTE_MARSHALLER))) {
                            fields.add(new HeaderField(key, Base64.getEncoder().withoutPadding().encodeToString(v)));
                        }
                    } else {
                        for (String v : metadata.getAll(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER))) {
                            fields.add(new HeaderField(key, v));
                        }
                    }
                }
            }
        }
    }

    /** grpc-message's encoding: UTF-8, with bytes outside printable ASCII and '%' as %XX. */
    static String percentEncoded(String message) {
        byte[] utf8 = message.getBytes(StandardCharsets.UTF_8);
        StringBuilder sb = null;
        for (int i = 0; i < utf8.length; i++) {
            int c = utf8[i] & 0xff;
            boolean plain = c >= 0x20 && c < 0x7f && c != '%';
            if (!plain && sb == null) {
                sb = new StringBuilder(utf8.length + 16);
                sb.append(message, 0, i); // the bytes before are ASCII: one char each
            }
            if (sb != null) {
                if (plain) {
                    sb.append((char) c);
                } else {
                    sb.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                            .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
                }
            }
        }
        return sb == null ? message : sb.toString();
    }

    // ------------------------------------------------------------------ ending

    /** Asks the client to open no more streams (server shutdown); the calls in flight go on. */
    void goAway() {
        try {
            // A write blocked on a client that does not read holds the lock: that client gets no GOAWAY,
            // and the shutdown closes its connection after the grace.
            if (!writeLock.tryLock(1, java.util.concurrent.TimeUnit.SECONDS)) {
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        try {
            if (!goAwaySent && !closed) {
                goAwaySent = true;
                FrameBuffer out = new FrameBuffer(32);
                out.goAway(lastStreamId, NO_ERROR, "server shutting down");
                write(out);
            }
        } catch (IOException e) {
            // the connection is gone
        } finally {
            writeLock.unlock();
        }
    }

    /** The calls in flight on this connection. */
    int activeStreams() {
        return closed ? 0 : streams.size();
    }

    /** Closes the connection: calls still in flight are cancelled. */
    void close() {
        if (!ended.compareAndSet(false, true)) {
            return;
        }
        closed = true;
        try {
            channel.close(); // first, without the write lock: it also ends a write blocked on a client that does not read
        } catch (IOException e) {
            LOG.log(Level.FINE, "closing CRI connection " + number, e);
        }
        writeLock.lock();
        try {
            windowOpened.signalAll();
        } finally {
            writeLock.unlock();
        }
        for (Http2Stream s : streams.values()) {
            streams.remove(s.id);
            cancel(s);
        }
        server.closed(this);
    }

    private static String codeName(int code) {
        return switch (code) {
            case PROTOCOL_ERROR -> "PROTOCOL_ERROR";
            case FLOW_CONTROL_ERROR -> "FLOW_CONTROL_ERROR";
            case STREAM_CLOSED -> "STREAM_CLOSED";
            case FRAME_SIZE_ERROR -> "FRAME_SIZE_ERROR";
            case COMPRESSION_ERROR -> "COMPRESSION_ERROR";
            case ENHANCE_YOUR_CALM -> "ENHANCE_YOUR_CALM";
            default -> "error " + code;
        };
    }
}
