package io.coracle.image;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** Debian's docker-registry (CNCF distribution) on 127.0.0.1:&lt;free port&gt;, started and stopped by PID. */
final class TestRegistry implements AutoCloseable {
    static final String USER = "alice";
    static final String PASSWORD = "s3cret";
    /** bcrypt of PASSWORD (cost 5), so tests need no htpasswd tool. */
    private static final String HTPASSWD = "alice:$2b$05$nH0QdIJpeo3PNCVhFCchuuskB3yGTG2LD4STCLlTjLIfvkxOKob5u\n";

    private final Process process;
    final int port;

    private TestRegistry(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    static TestRegistry start(Path dir) throws Exception {
        return start(dir, false);
    }

    static TestRegistry start(Path dir, boolean basicAuth) throws Exception {
        return start(dir, basicAuth, null, null);
    }

    /** With {@code cert}/{@code key}: serves HTTPS with that certificate. */
    static TestRegistry start(Path dir, boolean basicAuth, Path cert, Path key) throws Exception {
        Files.createDirectories(dir);
        int port = freePort();
        StringBuilder yml = new StringBuilder("""
                version: 0.1
                log:
                  level: error
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: %s
                  delete:
                    enabled: true
                http:
                  addr: 127.0.0.1:%d
                  secret: coracle-test
                """.formatted(dir.resolve("data"), port));
        if (cert != null) {
            yml.append("""
                      tls:
                        certificate: %s
                        key: %s
                    """.formatted(cert, key));
        }
        if (basicAuth) {
            Files.writeString(dir.resolve("htpasswd"), HTPASSWD);
            yml.append("""
                    auth:
                      htpasswd:
                        realm: coracle-test
                        path: %s
                    """.formatted(dir.resolve("htpasswd")));
        }
        Path config = dir.resolve("config.yml");
        Files.writeString(config, yml);
        Process p = new ProcessBuilder("/usr/bin/docker-registry", "serve", config.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("registry.log").toFile()).start();
        TestRegistry r = new TestRegistry(p, port);
        if (cert != null) {
            r.awaitPort();
        } else {
            r.awaitReady();
        }
        return r;
    }

    URI base() {
        return URI.create("http://127.0.0.1:" + port);
    }

    String host() {
        return "127.0.0.1:" + port;
    }

    private void awaitReady() throws Exception {
        HttpClient c = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("docker-registry exited with " + process.exitValue());
            }
            try {
                HttpResponse<Void> r = c.send(HttpRequest.newBuilder(base().resolve("/v2/")).timeout(Duration.ofSeconds(1)).build(),
                        HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200 || r.statusCode() == 401) {
                    return;
                }
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        close();
        throw new IllegalStateException("docker-registry did not come up on port " + port);
    }

    private void awaitPort() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (System.nanoTime() < deadline) {
            try (java.net.Socket s = new java.net.Socket("127.0.0.1", port)) {
                return;
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        close();
        throw new IllegalStateException("docker-registry did not listen on port " + port);
    }

    /** A self-signed certificate for 127.0.0.1 (openssl): returns {cert, key}. */
    static Path[] selfSignedCert(Path dir, String name) throws Exception {
        Files.createDirectories(dir);
        Path cert = dir.resolve(name + ".pem");
        Path key = dir.resolve(name + ".key");
        Process p = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=coracle-test-" + name, "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", key.toString(), "-out", cert.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IllegalStateException("openssl failed: " + out);
        }
        return new Path[] {cert, key};
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws InterruptedException {
        ProcessHandle h = process.toHandle();
        h.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            h.destroyForcibly();
            process.waitFor();
        }
    }
}
