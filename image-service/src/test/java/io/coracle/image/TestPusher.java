package io.coracle.image;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/** Minimal OCI distribution push for tests: monolithic blob upload and manifest PUT. */
final class TestPusher {
    private final URI base;
    private final String authorization;
    private HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    /** Trusts the CA in {@code pem} (for a TLS test registry). */
    TestPusher trusting(java.nio.file.Path pem) {
        http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .sslContext(io.coracle.image.registry.RegistryClient.sslContextFor(pem)).build();
        return this;
    }

    TestPusher(URI base) {
        this(base, null, null);
    }

    TestPusher(URI base, String user, String password) {
        this.base = base;
        this.authorization = user == null ? null
                : "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    Digest pushBlob(String repo, byte[] bytes) throws Exception {
        Digest d = Digest.of(bytes);
        HttpResponse<String> start = http.send(req(base.resolve("/v2/" + repo + "/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        if (start.statusCode() != 202) {
            throw new IllegalStateException("upload start " + start.statusCode() + " " + start.body());
        }
        String location = start.headers().firstValue("Location").orElseThrow();
        URI upload = base.resolve(location);
        String sep = upload.getQuery() == null ? "?" : "&";
        HttpResponse<String> put = http.send(req(URI.create(upload + sep + "digest=" + d))
                .header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofByteArray(bytes)).build(), HttpResponse.BodyHandlers.ofString());
        if (put.statusCode() != 201) {
            throw new IllegalStateException("upload put " + put.statusCode() + " " + put.body());
        }
        return d;
    }

    Digest pushManifest(String repo, String reference, String mediaType, byte[] bytes) throws Exception {
        HttpResponse<String> put = http.send(req(base.resolve("/v2/" + repo + "/manifests/" + reference))
                .header("Content-Type", mediaType)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(bytes)).build(), HttpResponse.BodyHandlers.ofString());
        if (put.statusCode() != 201) {
            throw new IllegalStateException("manifest put " + put.statusCode() + " " + put.body());
        }
        return Digest.of(bytes);
    }

    private HttpRequest.Builder req(URI uri) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri);
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return b;
    }
}
