package io.coracle.runtime.testing;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;

/**
 * Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1 and a free port, storing in a
 * temp dir; with a minimal OCI distribution push client. Closing stops it by PID.
 */
public final class LocalRegistry implements AutoCloseable {
    private final Process process;
    private final int port;
    private final Path dir;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private LocalRegistry(Process process, int port, Path dir) {
        this.process = process;
        this.port = port;
        this.dir = dir;
    }

    public static LocalRegistry start() throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("coracle-registry-");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path config = Files.writeString(dir.resolve("config.yml"), """
                version: 0.1
                log:
                  level: warn
                storage:
                  filesystem:
                    rootdirectory: %s
                  delete:
                    enabled: true
                http:
                  addr: 127.0.0.1:%d
                """.formatted(dir.resolve("data"), port));
        Process p = new ProcessBuilder("docker-registry", "serve", config.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("registry.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try (Socket ignored = new Socket("127.0.0.1", port)) {
                break;
            } catch (IOException e) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    p.destroyForcibly();
                    throw new IOException("docker-registry did not start: " + Files.readString(dir.resolve("registry.log")));
                }
                Thread.sleep(20);
            }
        }
        return new LocalRegistry(p, port, dir);
    }

    /** host:port, for image names and mirror endpoints. */
    public String host() {
        return "127.0.0.1:" + port;
    }

    /** Uploads a blob and returns its digest. */
    public String pushBlob(String repo, byte[] data) throws IOException, InterruptedException {
        String digest = digest(data);
        HttpResponse<Void> start = http.send(HttpRequest.newBuilder(URI.create("http://" + host() + "/v2/" + repo
                + "/blobs/uploads/")).POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding());
        if (start.statusCode() != 202) {
            throw new IOException("blob upload start: HTTP " + start.statusCode());
        }
        String location = start.headers().firstValue("Location").orElseThrow();
        URI upload = URI.create("http://" + host()).resolve(location);
        String sep = upload.getQuery() == null ? "?" : "&";
        HttpResponse<String> put = http.send(HttpRequest.newBuilder(URI.create(upload + sep + "digest=" + digest))
                .header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofByteArray(data)).build(), HttpResponse.BodyHandlers.ofString());
        if (put.statusCode() != 201) {
            throw new IOException("blob upload: HTTP " + put.statusCode() + " " + put.body());
        }
        return digest;
    }

    public String pushManifest(String repo, String tag, String mediaType, byte[] manifest)
            throws IOException, InterruptedException {
        HttpResponse<String> put = http.send(HttpRequest.newBuilder(URI.create("http://" + host() + "/v2/" + repo
                        + "/manifests/" + tag)).header("Content-Type", mediaType)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(manifest)).build(), HttpResponse.BodyHandlers.ofString());
        if (put.statusCode() != 201) {
            throw new IOException("manifest upload: HTTP " + put.statusCode() + " " + put.body());
        }
        return digest(manifest);
    }

    public static String digest(byte[] data) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() throws Exception {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
        DaemonProcess.deleteTree(dir);
    }
}
