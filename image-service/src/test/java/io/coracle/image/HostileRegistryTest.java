package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.coracle.image.content.MediaTypes;
import io.coracle.image.registry.Credentials;
import io.coracle.image.registry.RegistryClient;
import io.coracle.image.registry.RegistryLimits;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A registry that lies: endless manifests, config blobs and token answers, absurd descriptor sizes,
 * and a redirect from HTTPS to plain HTTP. Each pull fails with its reason, reads no more than the
 * bound, leaves nothing in the content store, and the service pulls a good image afterwards.
 */
class HostileRegistryTest {
    /** What an endless answer sends at most, so the test itself is bounded. */
    static final long ENDLESS = 256L * 1024 * 1024;
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    LocalRegistry good;
    ImageService service;
    final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    final List<AutoCloseable> servers = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        good = LocalRegistry.start(tmp.resolve("registry"));
    }

    @AfterEach
    void stop() throws Exception {
        if (service != null) {
            service.close();
        }
        for (AutoCloseable s : servers) {
            s.close();
        }
        executor.shutdownNow();
        good.close();
    }

    /** An HTTP(S) server on 127.0.0.1 answering each path with its route; counts bytes sent and requests. */
    final class Hostile implements AutoCloseable {
        final HttpServer server;
        final Map<String, Route> routes = new ConcurrentHashMap<>();
        final List<String> requests = new CopyOnWriteArrayList<>();
        final AtomicLong sent = new AtomicLong();

        Hostile(SSLContext tls) throws IOException {
            InetSocketAddress addr = new InetSocketAddress("127.0.0.1", 0);
            if (tls != null) {
                HttpsServer s = HttpsServer.create(addr, 16);
                s.setHttpsConfigurator(new HttpsConfigurator(tls));
                server = s;
            } else {
                server = HttpServer.create(addr, 16);
            }
            server.createContext("/", ex -> {
                String path = ex.getRequestURI().getPath();
                requests.add(path);
                Route r = routes.get(path);
                try (ex) {
                    if (r == null) {
                        ex.sendResponseHeaders(404, -1);
                    } else {
                        r.answer(ex);
                    }
                } catch (IOException e) {
                    // the client hung up: what an endless answer expects
                }
            });
            server.setExecutor(executor);
            server.start();
            servers.add(this);
        }

        String host() {
            return "127.0.0.1:" + server.getAddress().getPort();
        }

        String base() {
            return (server instanceof HttpsServer ? "https://" : "http://") + host();
        }

        /** A JSON document. */
        Hostile document(String path, String contentType, byte[] body) {
            routes.put(path, ex -> {
                ex.getResponseHeaders().set("Content-Type", contentType);
                ex.sendResponseHeaders(200, body.length);
                ex.getResponseBody().write(body);
                sent.addAndGet(body.length);
            });
            return this;
        }

        /** An answer that never ends (chunked, no Content-Length), cut by the test's own bound. */
        Hostile endless(String path, String contentType) {
            routes.put(path, ex -> {
                ex.getResponseHeaders().set("Content-Type", contentType);
                ex.sendResponseHeaders(200, 0);
                byte[] chunk = new byte[64 * 1024];
                java.util.Arrays.fill(chunk, (byte) ' ');
                chunk[0] = '{';
                OutputStream out = ex.getResponseBody();
                while (sent.get() < ENDLESS) {
                    out.write(chunk);
                    sent.addAndGet(chunk.length);
                    chunk[0] = ' ';
                }
            });
            return this;
        }

        Hostile redirect(String path, String location) {
            routes.put(path, ex -> {
                ex.getResponseHeaders().set("Location", location);
                ex.sendResponseHeaders(307, -1);
            });
            return this;
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    interface Route {
        void answer(HttpExchange ex) throws IOException;
    }

    static byte[] manifest(Descriptorish config, Descriptorish... layers) throws IOException {
        ObjectNode m = JSON.createObjectNode();
        m.put("schemaVersion", 2);
        m.put("mediaType", MediaTypes.OCI_MANIFEST);
        m.set("config", config.json());
        ArrayNode ls = m.putArray("layers");
        for (Descriptorish l : layers) {
            ls.add(l.json());
        }
        return JSON.writeValueAsBytes(m);
    }

    record Descriptorish(String mediaType, Digest digest, long size) {
        ObjectNode json() {
            ObjectNode d = JSON.createObjectNode();
            d.put("mediaType", mediaType);
            d.put("digest", digest.toString());
            d.put("size", size);
            return d;
        }
    }

    ImageService open(Map<String, Path> caFiles) {
        service = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64")
                .withCaFiles(caFiles).withRequestTimeout(Duration.ofSeconds(10)).withMaxRetries(0));
        return service;
    }

    /** The pull fails with {@code reason}; nothing is left in the store; a good image still pulls. */
    ImageException refused(ImageService s, String ref, ImageException.Reason reason) throws Exception {
        ImageException e = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS));
        assertEquals(reason, e.reason(), e.getMessage());
        assertTrue(s.list().isEmpty());
        assertEquals(0, count("root/blobs/sha256"), "no blob stays");
        assertEquals(0, count("root/ingest"), "no partial blob stays");
        assertEquals(0, count("root/snapshots"));
        TestImage img = new TestImage().layer(new TestLayer().file("ok", "ok\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(new RegistryPusher(good.base()), "test/ok", "1");
        assertEquals(img.configDigest().toString(), s.pull(good.host() + "/test/ok:1", Credentials.ANONYMOUS).id());
        s.remove(good.host() + "/test/ok:1");
        return e;
    }

    long count(String dir) throws IOException {
        Path p = tmp.resolve(dir);
        if (!Files.exists(p)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(p)) {
            return s.count();
        }
    }

    @Test
    void endlessManifestIsCutAtFourMiB() throws Exception {
        Hostile h = new Hostile(null).endless("/v2/evil/manifests/1", MediaTypes.OCI_MANIFEST);
        ImageException e = refused(open(Map.of()), h.host() + "/evil:1", ImageException.Reason.TOO_LARGE);
        assertTrue(e.getMessage().contains("larger than " + RegistryLimits.MAX_MANIFEST_BYTES), e.getMessage());
        assertTrue(h.sent.get() < ENDLESS / 4, "stopped reading after " + h.sent.get() + " bytes");
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, io.coracle.cri.CriStatus.toGrpc("PullImage", e).getStatus().getCode());
    }

    @Test
    void endlessConfigBlobIsCutAtItsDeclaredSize() throws Exception {
        byte[] config = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}".getBytes();
        Digest configDigest = Digest.of(config);
        Hostile h = new Hostile(null)
                .document("/v2/evil/manifests/1", MediaTypes.OCI_MANIFEST, manifest(
                        new Descriptorish(MediaTypes.OCI_CONFIG, configDigest, config.length)))
                .endless("/v2/evil/blobs/" + configDigest, "application/octet-stream");
        ImageException e = refused(open(Map.of()), h.host() + "/evil:1", ImageException.Reason.DIGEST_MISMATCH);
        assertTrue(e.getMessage().contains("more than the expected " + config.length + " bytes"), e.getMessage());
        assertTrue(h.sent.get() < ENDLESS / 4, "stopped reading after " + h.sent.get() + " bytes");
    }

    @Test
    void configDescriptorOverTheCapIsRefusedBeforeDownload() throws Exception {
        Digest configDigest = Digest.of("x".getBytes());
        Hostile h = new Hostile(null)
                .document("/v2/evil/manifests/1", MediaTypes.OCI_MANIFEST, manifest(
                        new Descriptorish(MediaTypes.OCI_CONFIG, configDigest, RegistryLimits.MAX_CONFIG_BYTES + 1)))
                .endless("/v2/evil/blobs/" + configDigest, "application/octet-stream");
        refused(open(Map.of()), h.host() + "/evil:1", ImageException.Reason.TOO_LARGE);
        assertEquals(List.of("/v2/evil/manifests/1"), h.requests, "no blob was asked for");
    }

    @Test
    void negativeOrAbsurdLayerSizesAreRefusedBeforeAnyDownload() throws Exception {
        byte[] config = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}".formatted("0".repeat(64)).getBytes();
        Digest configDigest = Digest.of(config);
        Digest layer = Digest.of("layer".getBytes());
        ImageService s = open(Map.of());
        for (long size : new long[] {-1, 1L << 62, Long.MIN_VALUE}) {
            Hostile h = new Hostile(null)
                    .document("/v2/evil/manifests/1", MediaTypes.OCI_MANIFEST, manifest(
                            new Descriptorish(MediaTypes.OCI_CONFIG, configDigest, config.length),
                            new Descriptorish(MediaTypes.OCI_LAYER_GZIP, layer, size)))
                    .document("/v2/evil/blobs/" + configDigest, "application/octet-stream", config)
                    .endless("/v2/evil/blobs/" + layer, "application/octet-stream");
            ImageException e = refused(s, h.host() + "/evil:1", size < 0 ? ImageException.Reason.INVALID_ARGUMENT
                    : ImageException.Reason.TOO_LARGE);
            assertTrue(e.getMessage().contains(String.valueOf(size)), e.getMessage());
            assertEquals(List.of("/v2/evil/manifests/1"), h.requests, "no blob was asked for with size " + size);
        }
    }

    @Test
    void endlessTokenAnswerIsCutAtItsBound() throws Exception {
        Hostile tokens = new Hostile(null).endless("/token", "application/json");
        Hostile h = new Hostile(null);
        h.routes.put("/v2/evil/manifests/1", ex -> {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"" + tokens.base() + "/token\",service=\"evil\"");
            ex.sendResponseHeaders(401, -1);
        });
        ImageException e = refused(open(Map.of()), h.host() + "/evil:1", ImageException.Reason.TOO_LARGE);
        assertTrue(e.getMessage().contains("token server"), e.getMessage());
        assertTrue(tokens.sent.get() < ENDLESS / 4, "stopped reading after " + tokens.sent.get() + " bytes");
    }

    @Test
    void httpsToPlainHttpRedirectOrTokenRealmIsRefusedAndHttpsToHttpsFollowed() throws Exception {
        Path[] cert = LocalRegistry.selfSignedCert(tmp.resolve("certs"), "hostile");
        SSLContext tls = serverContext(cert[0], cert[1]);
        Hostile plain = new Hostile(null).endless("/v2/evil/manifests/1", MediaTypes.OCI_MANIFEST);
        Hostile secure = new Hostile(tls).redirect("/v2/evil/manifests/1", plain.base() + "/v2/evil/manifests/1");
        ImageService s = open(Map.of(secure.host(), cert[0]));
        ImageException e = refused(s, secure.host() + "/evil:1", ImageException.Reason.INSECURE_REDIRECT);
        assertTrue(e.getMessage().contains("redirected to http://" + plain.host()), e.getMessage());
        assertEquals(List.of(), plain.requests, "nothing was sent in clear");
        assertEquals(Status.Code.FAILED_PRECONDITION, io.coracle.cri.CriStatus.toGrpc("PullImage", e).getStatus().getCode());

        // A Bearer realm on plain HTTP behind an HTTPS registry would carry credentials and token in clear.
        Hostile tokens = new Hostile(null).endless("/token", "application/json");
        secure.routes.put("/v2/auth/manifests/1", ex -> {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"" + tokens.base() + "/token\",service=\"evil\"");
            ex.sendResponseHeaders(401, -1);
        });
        e = refused(s, secure.host() + "/auth:1", ImageException.Reason.INSECURE_REDIRECT);
        assertTrue(e.getMessage().contains("token server " + tokens.base()), e.getMessage());
        assertEquals(List.of(), tokens.requests, "nothing was sent in clear");

        // A blob redirect to another HTTPS place (as registries send to their storage) is followed,
        // and one to plain HTTP is refused there too.
        byte[] config = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}".getBytes();
        Digest configDigest = Digest.of(config);
        Hostile storage = new Hostile(tls).document("/storage/config", "application/octet-stream", config);
        secure.document("/v2/good/manifests/1", MediaTypes.OCI_MANIFEST, manifest(
                        new Descriptorish(MediaTypes.OCI_CONFIG, configDigest, config.length)))
                .redirect("/v2/good/blobs/" + configDigest, storage.base() + "/storage/config");
        RegistryClient client = new RegistryClient(ImageServiceConfig.defaults(tmp.resolve("root2"))
                .withPlatform("linux/amd64")
                .withCaFiles(Map.of(secure.host(), cert[0])).withMaxConcurrentDownloads(1)
                .withRequestTimeout(Duration.ofSeconds(10)).withMaxRetries(0),
                new io.coracle.image.content.ContentStore(tmp.resolve("root2")));
        try (client) {
            ImageReference ref = ImageReference.parse(secure.host() + "/good:1");
            client.pullBlob(ref, configDigest, config.length, Credentials.ANONYMOUS);
            assertEquals(List.of("/storage/config"), storage.requests);

            secure.redirect("/v2/good/blobs/" + configDigest, plain.base() + "/storage/config");
            Files.delete(tmp.resolve("root2/blobs/sha256/" + configDigest.hex()));
            ImageException blob = assertThrows(ImageException.class,
                    () -> client.pullBlob(ref, configDigest, config.length, Credentials.ANONYMOUS));
            assertEquals(ImageException.Reason.INSECURE_REDIRECT, blob.reason(), blob.getMessage());
            assertEquals(List.of(), plain.requests);
        }
    }

    /** A server-side TLS context from a PEM certificate and key (through a PKCS#12 file made by openssl). */
    SSLContext serverContext(Path cert, Path key) throws Exception {
        Path p12 = tmp.resolve("certs/server.p12");
        Process p = new ProcessBuilder("openssl", "pkcs12", "-export", "-in", cert.toString(), "-inkey", key.toString(),
                "-out", p12.toString(), "-passout", "pass:test").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(p12)) {
            ks.load(in, "test".toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, "test".toCharArray());
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        return ctx;
    }
}
