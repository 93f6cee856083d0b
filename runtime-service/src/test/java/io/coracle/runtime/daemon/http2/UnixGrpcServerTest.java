package io.coracle.runtime.daemon.http2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.Container;
import io.coracle.cri.v1.ContainerEventResponse;
import io.coracle.cri.v1.GetEventsRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListContainersResponse;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.VersionRequest;
import io.coracle.cri.v1.VersionResponse;
import io.grpc.ClientCall;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The CRI socket's gRPC server: a grpc-java client (the kubelet's and crictl's grpc-go are covered by
 * critest) calls a test service through it, and raw HTTP/2 clients break the protocol's rules.
 */
class UnixGrpcServerTest {
    private Path dir;
    private Path socket;
    private UnixGrpcServer server;
    private EventLoopGroup loop;
    private ManagedChannel channel;
    private final CountDownLatch streamCancelled = new CountDownLatch(1);
    private final CountDownLatch slowCallStarted = new CountDownLatch(1);
    private final AtomicReference<Metadata> seenHeaders = new AtomicReference<>();

    /** Echoes Version, answers ListContainers with N containers, streams events until cancelled. */
    private final class TestRuntime extends RuntimeServiceGrpc.RuntimeServiceImplBase {
        @Override
        public void version(VersionRequest request, StreamObserver<VersionResponse> response) {
            switch (request.getVersion()) {
                case "fail" -> response.onError(Status.NOT_FOUND.withDescription("pod «x» not found: 100% sure\nsecond line")
                        .asRuntimeException());
                case "throw" -> throw new IllegalStateException("a bug");
                case "slow" -> {
                    slowCallStarted.countDown();
                    sleep(500);
                    response.onNext(VersionResponse.newBuilder().setVersion("slow done").build());
                    response.onCompleted();
                }
                default -> {
                    response.onNext(VersionResponse.newBuilder().setVersion(request.getVersion())
                            .setRuntimeName("echo").build());
                    response.onCompleted();
                }
            }
        }

        @Override
        public void listContainers(ListContainersRequest request, StreamObserver<ListContainersResponse> response) {
            int n = Integer.parseInt(request.getFilter().getId());
            ListContainersResponse.Builder b = ListContainersResponse.newBuilder();
            for (int i = 0; i < n; i++) {
                b.addContainers(Container.newBuilder().setId("c" + i).setImageRef("x".repeat(1000)));
            }
            response.onNext(b.build());
            response.onCompleted();
        }

        @Override
        public void getContainerEvents(GetEventsRequest request, StreamObserver<ContainerEventResponse> response) {
            ServerCallStreamObserver<ContainerEventResponse> call = (ServerCallStreamObserver<ContainerEventResponse>) response;
            call.setOnCancelHandler(streamCancelled::countDown);
            for (int i = 0; i < 3; i++) {
                call.onNext(ContainerEventResponse.newBuilder().setContainerId("e" + i).build());
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static final Metadata.Key<String> TEXT = Metadata.Key.of("x-text", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<byte[]> BINARY = Metadata.Key.of("x-data-bin", Metadata.BINARY_BYTE_MARSHALLER);

    @BeforeEach
    void start() throws IOException {
        dir = Files.createTempDirectory("grpc-server-test");
        socket = dir.resolve("test.sock");
        ServerInterceptor echoMetadata = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                    ServerCallHandler<Q, R> next) {
                seenHeaders.set(headers);
                return next.startCall(new SimpleForwardingServerCall<>(call) {
                    @Override
                    public void close(Status status, Metadata trailers) {
                        if (headers.containsKey(BINARY)) {
                            trailers.put(BINARY, headers.get(BINARY));
                        }
                        super.close(status, trailers);
                    }
                }, headers);
            }
        };
        server = new UnixGrpcServer(socket, List.of(ServerInterceptors.intercept(new TestRuntime(), echoMetadata)));
        server.start();
        loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
    }

    @AfterEach
    void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
        server.shutdownNow();
        Files.deleteIfExists(socket);
        Files.delete(dir);
    }

    private RuntimeServiceGrpc.RuntimeServiceBlockingStub stub() {
        return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    private String echo(String s) {
        return stub().version(VersionRequest.newBuilder().setVersion(s).build()).getVersion();
    }

    // ------------------------------------------------------------------ a gRPC client

    @Test
    void unaryCallsAnswerManyAtOnceOnOneConnection() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<String>> answers = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                String v = "v" + i;
                answers.add(pool.submit(() -> echo(v)));
            }
            for (int i = 0; i < answers.size(); i++) {
                assertEquals("v" + i, answers.get(i).get(30, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void largeRequestsAndResponsesCrossTheFlowControlWindows() {
        String big = "y".repeat(10 << 20);
        assertEquals(big, echo(big));
        ListContainersResponse r = stub().listContainers(ListContainersRequest.newBuilder()
                .setFilter(io.coracle.cri.v1.ContainerFilter.newBuilder().setId("20000")).build());
        assertEquals(20000, r.getContainersCount());
        assertEquals("c19999", r.getContainers(19999).getId());
    }

    @Test
    void aRequestOverTheMessageLimitIsRefusedWithResourceExhausted() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> echo("z".repeat(17 << 20)));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.toString());
        assertTrue(e.getStatus().getDescription().contains("16777216"), e.toString());
        assertEquals("still serving", echo("still serving"));
    }

    @Test
    void errorsReachTheClientWithCodeAndMessageIntact() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> echo("fail"));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertEquals("pod «x» not found: 100% sure\nsecond line", e.getStatus().getDescription());
        e = assertThrows(StatusRuntimeException.class, () -> echo("throw"));
        assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode(), e.toString());
        e = assertThrows(StatusRuntimeException.class, () -> stub().status(io.coracle.cri.v1.StatusRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode(), e.toString());
        e = assertThrows(StatusRuntimeException.class, () -> io.grpc.health.v1.HealthGrpc.newBlockingStub(channel)
                .check(io.grpc.health.v1.HealthCheckRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode(), e.toString());
        assertTrue(e.getStatus().getDescription().contains("grpc.health.v1.Health/Check"), e.toString());
    }

    @Test
    void metadataReachesTheHandlerAndTrailersComeBack() {
        Metadata sent = new Metadata();
        sent.put(TEXT, "hello world");
        byte[] data = new byte[256];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) i;
        }
        sent.put(BINARY, data);
        AtomicReference<Metadata> trailers = new AtomicReference<>();
        RuntimeServiceGrpc.RuntimeServiceBlockingStub s = stub().withInterceptors(
                MetadataUtils.newAttachHeadersInterceptor(sent),
                MetadataUtils.newCaptureMetadataInterceptor(new AtomicReference<>(), trailers));
        assertEquals("m", s.version(VersionRequest.newBuilder().setVersion("m").build()).getVersion());
        assertEquals("hello world", seenHeaders.get().get(TEXT));
        assertArrayEquals(data, seenHeaders.get().get(BINARY));
        assertArrayEquals(data, trailers.get().get(BINARY));
    }

    @Test
    void aServerStreamEndsOnTheHandlerWhenTheClientCancels() throws Exception {
        io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
        Iterator<ContainerEventResponse> events = ctx.call(() -> stub().withDeadlineAfter(1, TimeUnit.HOURS)
                .getContainerEvents(GetEventsRequest.getDefaultInstance()));
        for (int i = 0; i < 3; i++) {
            assertEquals("e" + i, events.next().getContainerId());
        }
        assertEquals(1, streamCancelled.getCount());
        ctx.cancel(null);
        assertTrue(streamCancelled.await(10, TimeUnit.SECONDS), "the handler never heard of the cancel");
    }

    @Test
    void shutdownLetsCallsInFlightFinishAndRefusesNewOnes() throws Exception {
        Future<String> slow = Executors.newVirtualThreadPerTaskExecutor().submit(() -> echo("slow"));
        assertTrue(slowCallStarted.await(10, TimeUnit.SECONDS));
        server.shutdown();
        assertTrue(server.awaitTermination(10_000));
        assertEquals("slow done", slow.get(10, TimeUnit.SECONDS));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> echo("late"));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
    }

    // ------------------------------------------------------------------ raw HTTP/2 clients

    /** A raw client connection: writes frames, reads the server's frames. */
    private final class RawClient implements AutoCloseable {
        final SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        final DataInputStream in;
        final HpackDecoder hpack = new HpackDecoder(4096, 1 << 20);

        RawClient(boolean preface) throws IOException {
            ch.connect(UnixDomainSocketAddress.of(socket));
            in = new DataInputStream(Channels.newInputStream(ch));
            if (preface) {
                write(Http2Codes.PREFACE);
                frame(Http2Codes.SETTINGS, 0, 0, new byte[0]);
            }
        }

        void write(byte[] bytes) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        void frame(int type, int flags, int stream, byte[] payload) throws IOException {
            FrameBuffer f = new FrameBuffer(payload.length + 9);
            f.header(payload.length, type, flags, stream);
            f.bytes(payload, 0, payload.length);
            ByteBuffer b = f.asByteBuffer();
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        /** A request's header block for a method of the test service. */
        byte[] requestHeaders(String path) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            HpackEncoder.encode(List.of(new HeaderField(":method", "POST"), new HeaderField(":scheme", "http"),
                    new HeaderField(":path", path), new HeaderField(":authority", "localhost"),
                    new HeaderField("content-type", "application/grpc"), new HeaderField("te", "trailers")), out);
            return out.toByteArray();
        }

        record Frame(int type, int flags, int stream, byte[] payload) {
            int int32(int at) {
                return ByteBuffer.wrap(payload, at, 4).getInt();
            }
        }

        Frame read() throws IOException {
            int length = in.readUnsignedByte() << 16 | in.readUnsignedByte() << 8 | in.readUnsignedByte();
            int type = in.readUnsignedByte();
            int flags = in.readUnsignedByte();
            int stream = in.readInt() & Integer.MAX_VALUE;
            byte[] payload = new byte[length];
            in.readFully(payload);
            return new Frame(type, flags, stream, payload);
        }

        /** The next frame of {@code type}, skipping SETTINGS, WINDOW_UPDATE and PING acknowledgements. */
        Frame next(int type) throws IOException {
            while (true) {
                Frame f = read();
                if (f.type() == type) {
                    return f;
                }
                assertTrue(f.type() == Http2Codes.SETTINGS || f.type() == Http2Codes.WINDOW_UPDATE
                        || f.type() == Http2Codes.PING, "unexpected frame type " + f.type());
            }
        }

        /** The GOAWAY error code the server ends the connection with; then the connection is closed. */
        int goAwayCode() throws IOException {
            Frame f = next(Http2Codes.GOAWAY);
            assertThrows(IOException.class, this::read, "the connection stays open after GOAWAY");
            return f.int32(4);
        }

        /** The response header fields of the next HEADERS frame on {@code stream}. */
        List<HeaderField> headers(int stream) throws Exception {
            Frame f = next(Http2Codes.HEADERS);
            assertEquals(stream, f.stream());
            return hpack.decode(f.payload(), 0, f.payload().length).fields();
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    private static String field(List<HeaderField> fields, String name) {
        return fields.stream().filter(f -> f.name().equals(name)).map(HeaderField::value).findFirst().orElse(null);
    }

    private static byte[] grpcMessage(byte[] body) {
        byte[] m = new byte[5 + body.length];
        ByteBuffer.wrap(m, 1, 4).putInt(body.length);
        System.arraycopy(body, 0, m, 5, body.length);
        return m;
    }

    @Test
    void aRawClientGetsAnAnswerAndPingsComeBack() throws Exception {
        try (RawClient c = new RawClient(true)) {
            c.frame(Http2Codes.PING, 0, 0, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
            RawClient.Frame ping = c.next(Http2Codes.PING);
            assertEquals(Http2Codes.FLAG_ACK, ping.flags());
            assertArrayEquals(new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, ping.payload());
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 1, c.requestHeaders("/runtime.v1.RuntimeService/Version"));
            c.frame(Http2Codes.DATA, Http2Codes.FLAG_END_STREAM, 1,
                    grpcMessage(VersionRequest.newBuilder().setVersion("raw").build().toByteArray()));
            List<HeaderField> h = c.headers(1);
            assertEquals("200", field(h, ":status"));
            RawClient.Frame data = c.next(Http2Codes.DATA);
            assertEquals("raw", VersionResponse.parseFrom(java.util.Arrays.copyOfRange(data.payload(), 5,
                    data.payload().length)).getVersion());
            assertEquals("0", field(c.headers(1), "grpc-status"));
        }
    }

    /** A hostile connection's end: the GOAWAY code, and the server still serves others. */
    private void assertGoAway(int code, RawClient c) throws Exception {
        assertEquals(code, c.goAwayCode());
        assertEquals("after", echo("after"));
    }

    @Test
    void somethingOtherThanHttp2IsTurnedAway() throws Exception {
        try (RawClient c = new RawClient(false)) {
            c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes());
            assertGoAway(Http2Codes.PROTOCOL_ERROR, c);
        }
    }

    @Test
    void aFrameOverTheSizeLimitEndsTheConnection() throws Exception {
        try (RawClient c = new RawClient(true)) {
            c.frame(Http2Codes.DATA, 0, 1, new byte[16_385]);
            assertGoAway(Http2Codes.FRAME_SIZE_ERROR, c);
        }
    }

    @Test
    void anEndlessHeaderBlockEndsTheConnectionAtItsBound() throws Exception {
        try (RawClient c = new RawClient(true)) {
            c.frame(Http2Codes.HEADERS, 0, 1, c.requestHeaders("/runtime.v1.RuntimeService/Version"));
            AtomicReference<Integer> code = new AtomicReference<>();
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    code.set(c.goAwayCode());
                } catch (Exception e) {
                    code.set(-1);
                }
            });
            try {
                for (int i = 0; i < 100; i++) { // 1.6 MB of CONTINUATION: refused after 64 KiB
                    c.frame(Http2Codes.CONTINUATION, 0, 1, new byte[16_000]);
                }
            } catch (IOException expected) {
                // the server closed the connection under us
            }
            reader.join(10_000);
            assertEquals(Http2Codes.ENHANCE_YOUR_CALM, code.get());
            assertEquals("after", echo("after"));
        }
    }

    @Test
    void aHeaderBlockThatIsNotHpackEndsTheConnection() throws Exception {
        try (RawClient c = new RawClient(true)) {
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 1, new byte[] {(byte) 0x80}); // index 0
            assertGoAway(Http2Codes.COMPRESSION_ERROR, c);
        }
    }

    @Test
    void protocolViolationsEndTheConnection() throws Exception {
        try (RawClient c = new RawClient(true)) { // a client stream id must be odd
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 2, c.requestHeaders("/runtime.v1.RuntimeService/Version"));
            assertGoAway(Http2Codes.PROTOCOL_ERROR, c);
        }
        try (RawClient c = new RawClient(true)) { // DATA on a stream never opened
            c.frame(Http2Codes.DATA, 0, 7, new byte[10]);
            assertGoAway(Http2Codes.PROTOCOL_ERROR, c);
        }
        try (RawClient c = new RawClient(true)) { // the connection window beyond 2^31-1
            c.frame(Http2Codes.WINDOW_UPDATE, 0, 0, ByteBuffer.allocate(4).putInt(Integer.MAX_VALUE).array());
            assertGoAway(Http2Codes.FLOW_CONTROL_ERROR, c);
        }
        try (RawClient c = new RawClient(true)) { // a SETTINGS frame that is not a list of 6-byte settings
            c.frame(Http2Codes.SETTINGS, 0, 0, new byte[5]);
            assertGoAway(Http2Codes.FRAME_SIZE_ERROR, c);
        }
        try (RawClient c = new RawClient(true)) { // a padding length beyond the frame
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS | Http2Codes.FLAG_PADDED, 1, new byte[] {(byte) 200, 1});
            assertGoAway(Http2Codes.PROTOCOL_ERROR, c);
        }
        try (RawClient c = new RawClient(true)) { // a stream id reused
            byte[] h = c.requestHeaders("/runtime.v1.RuntimeService/Version");
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS | Http2Codes.FLAG_END_STREAM, 3, h);
            c.headers(3);
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS | Http2Codes.FLAG_END_STREAM, 1, h);
            assertGoAway(Http2Codes.STREAM_CLOSED, c);
        }
    }

    @Test
    void aHugeLengthPrefixIsRefusedWithoutWaitingForIt() throws Exception {
        try (RawClient c = new RawClient(true)) {
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 1, c.requestHeaders("/runtime.v1.RuntimeService/Version"));
            c.frame(Http2Codes.DATA, 0, 1, new byte[] {0, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff});
            List<HeaderField> h = c.headers(1);
            assertEquals(String.valueOf(Status.Code.RESOURCE_EXHAUSTED.value()), field(h, "grpc-status"));
            RawClient.Frame rst = c.next(Http2Codes.RST_STREAM);
            assertEquals(Http2Codes.NO_ERROR, rst.int32(0));
        }
        assertEquals("after", echo("after"));
    }

    @Test
    void malformedRequestsGetAStatusNamingTheFault() throws Exception {
        try (RawClient c = new RawClient(true)) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            HpackEncoder.encode(List.of(new HeaderField(":method", "GET"), new HeaderField(":path", "/x"),
                    new HeaderField("content-type", "application/grpc")), b);
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS | Http2Codes.FLAG_END_STREAM, 1, b.toByteArray());
            List<HeaderField> h = c.headers(1);
            assertEquals(String.valueOf(Status.Code.UNIMPLEMENTED.value()), field(h, "grpc-status"));
            assertTrue(field(h, "grpc-message").contains("GET"), h.toString());

            b.reset();
            HpackEncoder.encode(List.of(new HeaderField(":method", "POST"), new HeaderField(":path", "/x"),
                    new HeaderField("content-type", "text/html")), b);
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS | Http2Codes.FLAG_END_STREAM, 3, b.toByteArray());
            h = c.headers(3);
            assertEquals(String.valueOf(Status.Code.INTERNAL.value()), field(h, "grpc-status"));
            assertTrue(field(h, "grpc-message").contains("text/html"), h.toString());

            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 5, c.requestHeaders("/runtime.v1.RuntimeService/Version"));
            c.frame(Http2Codes.DATA, Http2Codes.FLAG_END_STREAM, 5, new byte[] {0, 0, 0, 0, 9, 1}); // cut short
            h = c.headers(5);
            assertEquals(String.valueOf(Status.Code.INTERNAL.value()), field(h, "grpc-status"));

            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 7, c.requestHeaders("/runtime.v1.RuntimeService/Version"));
            c.frame(Http2Codes.DATA, Http2Codes.FLAG_END_STREAM, 7, grpcMessage(new byte[] {(byte) 0xff, (byte) 0xff}));
            h = c.headers(7);
            assertEquals(String.valueOf(Status.Code.INTERNAL.value()), field(h, "grpc-status"), h.toString());
        }
    }

    @Test
    void requestHeadersOverTheLimitAreRefusedAndTheConnectionGoesOn() throws Exception {
        try (RawClient c = new RawClient(true)) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            HpackEncoder.encode(List.of(new HeaderField(":method", "POST"), new HeaderField(":scheme", "http"),
                    new HeaderField(":path", "/runtime.v1.RuntimeService/Version"),
                    new HeaderField("content-type", "application/grpc"), new HeaderField("x-big", "b".repeat(9000))), b);
            byte[] block = b.toByteArray();
            c.frame(Http2Codes.HEADERS, 0, 1, java.util.Arrays.copyOfRange(block, 0, 8000));
            c.frame(Http2Codes.CONTINUATION, Http2Codes.FLAG_END_HEADERS, 1,
                    java.util.Arrays.copyOfRange(block, 8000, block.length));
            List<HeaderField> h = c.headers(1);
            assertEquals(String.valueOf(Status.Code.RESOURCE_EXHAUSTED.value()), field(h, "grpc-status"), h.toString());
            RawClient.Frame rst = c.next(Http2Codes.RST_STREAM); // the rest of that request is not wanted
            assertEquals(1, rst.stream());
            assertEquals(Http2Codes.NO_ERROR, rst.int32(0));
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 3, c.requestHeaders("/runtime.v1.RuntimeService/Version"));
            c.frame(Http2Codes.DATA, Http2Codes.FLAG_END_STREAM, 3,
                    grpcMessage(VersionRequest.newBuilder().setVersion("next").build().toByteArray()));
            assertEquals("200", field(c.headers(3), ":status"));
        }
    }

    @Test
    void theServerSendsNoMoreThanTheClientsWindowAndGoesOnWhenItOpens() throws Exception {
        try (RawClient c = new RawClient(false)) {
            c.write(Http2Codes.PREFACE);
            // A stream window of 100 bytes: the 2,000-byte answer leaves in pieces the client lets through.
            c.frame(Http2Codes.SETTINGS, 0, 0, new byte[] {0, Http2Codes.SETTINGS_INITIAL_WINDOW_SIZE, 0, 0, 0, 100});
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 1, c.requestHeaders("/runtime.v1.RuntimeService/Version"));
            c.frame(Http2Codes.DATA, Http2Codes.FLAG_END_STREAM, 1,
                    grpcMessage(VersionRequest.newBuilder().setVersion("w".repeat(2000)).build().toByteArray()));
            c.headers(1);
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            RawClient.Frame first = c.next(Http2Codes.DATA);
            assertEquals(100, first.payload().length, "the first DATA fills the window exactly");
            got.write(first.payload());
            while (true) {
                c.frame(Http2Codes.WINDOW_UPDATE, 0, 1, ByteBuffer.allocate(4).putInt(700).array());
                RawClient.Frame f = c.read();
                while (f.type() != Http2Codes.DATA && f.type() != Http2Codes.HEADERS) {
                    f = c.read();
                }
                if (f.type() == Http2Codes.HEADERS) {
                    assertEquals("0", field(c.hpack.decode(f.payload(), 0, f.payload().length).fields(), "grpc-status"));
                    break;
                }
                assertTrue(f.payload().length <= 700, "a DATA frame over the window: " + f.payload().length);
                got.write(f.payload());
            }
            byte[] all = got.toByteArray();
            assertEquals("w".repeat(2000), VersionResponse.parseFrom(java.util.Arrays.copyOfRange(all, 5, all.length)).getVersion());
        }
    }

    @Test
    @org.junit.jupiter.api.Timeout(value = 60, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void aClientThatNeverReadsDoesNotHoldUpTheShutdown() throws Exception {
        try (RawClient c = new RawClient(false)) {
            c.write(Http2Codes.PREFACE);
            // Windows wide open: the server writes a 20 MB answer until the socket is full, then blocks.
            c.frame(Http2Codes.SETTINGS, 0, 0, new byte[] {0, Http2Codes.SETTINGS_INITIAL_WINDOW_SIZE, 0x7f, -1, -1, -1});
            c.frame(Http2Codes.WINDOW_UPDATE, 0, 0, ByteBuffer.allocate(4).putInt(0x7fff0000).array());
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 1,
                    c.requestHeaders("/runtime.v1.RuntimeService/ListContainers"));
            c.frame(Http2Codes.DATA, Http2Codes.FLAG_END_STREAM, 1, grpcMessage(ListContainersRequest.newBuilder()
                    .setFilter(io.coracle.cri.v1.ContainerFilter.newBuilder().setId("20000")).build().toByteArray()));
            Thread.sleep(1000);
            long start = System.nanoTime();
            server.shutdown();
            assertFalse(server.awaitTermination(300), "the stuck call cannot have finished");
            server.shutdownNow();
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertTrue(ms < 5_000, "the shutdown took " + ms + " ms");
        }
    }

    @Test
    void streamsBeyondTheConcurrencyLimitAreRefused() throws Exception {
        try (RawClient c = new RawClient(true)) {
            byte[] h = c.requestHeaders("/runtime.v1.RuntimeService/Version");
            int limit = Http2ServerConnection.MAX_CONCURRENT_STREAMS;
            for (int i = 0; i <= limit; i++) { // open, never ended
                c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 1 + 2 * i, h);
            }
            RawClient.Frame rst = c.next(Http2Codes.RST_STREAM);
            assertEquals(1 + 2 * limit, rst.stream());
            assertEquals(Http2Codes.REFUSED_STREAM, rst.int32(0));
            // Ending one of the open streams answers it.
            c.frame(Http2Codes.DATA, Http2Codes.FLAG_END_STREAM, 1,
                    grpcMessage(VersionRequest.newBuilder().setVersion("one").build().toByteArray()));
            assertEquals("200", field(c.headers(1), ":status"));
        }
        assertEquals("after", echo("after"));
    }

    @Test
    void aClientThatResetsItsStreamCancelsTheCall() throws Exception {
        try (RawClient c = new RawClient(true)) {
            c.frame(Http2Codes.HEADERS, Http2Codes.FLAG_END_HEADERS, 1, c.requestHeaders("/runtime.v1.RuntimeService/GetContainerEvents"));
            c.frame(Http2Codes.DATA, Http2Codes.FLAG_END_STREAM, 1, grpcMessage(new byte[0]));
            c.headers(1);
            c.next(Http2Codes.DATA);
            c.frame(Http2Codes.RST_STREAM, 0, 1, new byte[] {0, 0, 0, Http2Codes.CANCEL});
            assertTrue(streamCancelled.await(10, TimeUnit.SECONDS));
        }
        assertFalse(Files.exists(dir.resolve("none")));
    }
}
