package io.coracle.image;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP proxy in front of the test registry that counts blob requests and injects faults:
 * corrupted blob bytes, or one connection cut in the middle of a blob.
 */
final class FaultProxy implements AutoCloseable {
    private final HttpServer server;
    private final URI upstream;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .followRedirects(HttpClient.Redirect.NEVER).build();
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    final Map<String, AtomicInteger> blobGets = new ConcurrentHashMap<>();
    final List<String> rangeRequests = new CopyOnWriteArrayList<>();
    volatile boolean corruptBlobs;
    /** Answer ranged blob requests with the whole blob (200), as registries without Range support do. */
    volatile boolean ignoreRange;
    /** Blob GETs to answer with 503 before forwarding again. */
    final AtomicInteger failBlobGets = new AtomicInteger();
    /** When set, the proxy acts as a registry with token auth: Bearer challenge, /token endpoint. */
    volatile String bearerToken;
    /** With bearerToken: the token endpoint wants these Basic credentials ("user:password"), or none if null. */
    volatile String tokenCredentials;
    final List<String> tokenRequests = new CopyOnWriteArrayList<>();
    /** When > 0: the next blob response larger than this stalls (sends nothing more) after this many bytes. */
    final AtomicInteger stallOnceAfter = new AtomicInteger();
    /** When > 0: the next blob response larger than this is cut after this many bytes. */
    final AtomicInteger cutOnceAfter = new AtomicInteger();
    /** Every request: "METHOD path?query Authorization-scheme-or-none X-Mirror-Token-or-none". */
    final List<String> requests = new CopyOnWriteArrayList<>();
    /** When set, the API root is here instead of /v2 (a registry that needs hosts.toml's override_path). */
    volatile String apiPrefix;

    FaultProxy(URI upstream) throws IOException {
        this.upstream = upstream;
        this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.createContext("/", this::handle);
        server.setExecutor(executor);
        server.start();
    }

    URI base() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    int blobGetsTotal() {
        return blobGets.values().stream().mapToInt(AtomicInteger::get).sum();
    }

    private void handle(HttpExchange ex) throws IOException {
        try {
            String path = ex.getRequestURI().toString();
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            requests.add(ex.getRequestMethod() + " " + path + " " + (auth == null ? "none" : auth.split(" ")[0])
                    + " " + ex.getRequestHeaders().getFirst("X-Mirror-Token"));
            String prefix = apiPrefix;
            if (prefix != null) {
                if (!path.startsWith(prefix + "/")) {
                    ex.sendResponseHeaders(404, -1);
                    ex.close();
                    return;
                }
                path = "/v2" + path.substring(prefix.length());
            }
            boolean blob = path.contains("/blobs/sha256:");
            if (bearerToken != null && answerTokenAuth(ex, path)) {
                return;
            }
            if (blob && ex.getRequestMethod().equals("GET") && failBlobGets.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                blobGets.computeIfAbsent("503", k -> new AtomicInteger()).incrementAndGet();
                ex.sendResponseHeaders(503, -1);
                ex.close();
                return;
            }
            HttpRequest.Builder b = HttpRequest.newBuilder(upstream.resolve(path)).method(ex.getRequestMethod(),
                    HttpRequest.BodyPublishers.ofByteArray(ex.getRequestBody().readAllBytes()));
            for (String h : bearerToken != null ? List.of("Accept", "Range", "Content-Type") : List.of("Accept", "Authorization", "Range", "Content-Type")) {
                if (ignoreRange && h.equals("Range")) {
                    continue;
                }
                String v = ex.getRequestHeaders().getFirst(h);
                if (v != null) {
                    b.header(h, v);
                }
            }
            if (blob && ex.getRequestMethod().equals("GET")) {
                blobGets.computeIfAbsent(path.substring(path.lastIndexOf('/') + 1), k -> new AtomicInteger()).incrementAndGet();
                if (ex.getRequestHeaders().getFirst("Range") != null) {
                    rangeRequests.add(ex.getRequestHeaders().getFirst("Range"));
                }
            }
            HttpResponse<byte[]> r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
            for (String h : List.of("Content-Type", "Docker-Content-Digest", "WWW-Authenticate", "Location", "Content-Range", "Accept-Ranges")) {
                r.headers().firstValue(h).ifPresent(v -> ex.getResponseHeaders().set(h, v));
            }
            byte[] body = r.body();
            if (blob && corruptBlobs && body.length > 0 && r.statusCode() / 100 == 2) {
                body = body.clone();
                body[body.length / 2] ^= 0x5a;
            }
            int stall = stallOnceAfter.get();
            if (blob && stall > 0 && body.length > stall && r.statusCode() / 100 == 2 && stallOnceAfter.compareAndSet(stall, 0)) {
                ex.sendResponseHeaders(r.statusCode(), body.length);
                OutputStream out = ex.getResponseBody();
                out.write(body, 0, stall);
                out.flush();
                Thread.sleep(60_000); // ended by close(): the server's executor interrupts it
                return;
            }
            int cut = cutOnceAfter.get();
            if (blob && cut > 0 && body.length > cut && r.statusCode() / 100 == 2 && cutOnceAfter.compareAndSet(cut, 0)) {
                ex.sendResponseHeaders(r.statusCode(), body.length);
                OutputStream out = ex.getResponseBody();
                out.write(body, 0, cut);
                out.flush();
                // Drop the connection with the body unfinished.
                ex.getHttpContext().getServer();
                throw new IOException("cut");
            }
            ex.sendResponseHeaders(r.statusCode(), body.length == 0 || ex.getRequestMethod().equals("HEAD") ? -1 : body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            ex.close();
            throw e;
        }
    }

    /** Token auth front: returns true if it answered the exchange itself. */
    private boolean answerTokenAuth(HttpExchange ex, String path) throws IOException {
        if (path.startsWith("/token")) {
            String form = new String(ex.getRequestBody().readAllBytes());
            tokenRequests.add(ex.getRequestMethod().equals("POST") ? "POST " + form : path);
            String want = tokenCredentials == null ? null
                    : "Basic " + java.util.Base64.getEncoder().encodeToString(tokenCredentials.getBytes());
            if (want != null && !want.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                ex.sendResponseHeaders(401, -1);
                ex.close();
                return true;
            }
            byte[] body = ("{\"token\":\"" + bearerToken + "\",\"expires_in\":300}").getBytes();
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
            return true;
        }
        if (!("Bearer " + bearerToken).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
            String repo = path.startsWith("/v2/") && path.contains("/manifests/") ? path.substring(4, path.indexOf("/manifests/"))
                    : path.contains("/blobs/") ? path.substring(4, path.indexOf("/blobs/")) : "";
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"" + base() + "/token\",service=\"coracle-test\",scope=\"repository:" + repo + ":pull\"");
            ex.sendResponseHeaders(401, -1);
            ex.close();
            return true;
        }
        return false;
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
