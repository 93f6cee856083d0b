package io.coracle.runtime.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ExecRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ExitStatus;
import io.coracle.testing.RemoteCommandClient;
import io.coracle.testing.RemoteCommandSession;
import io.coracle.testing.StreamTransport;
import io.coracle.testing.UpgradeRefusedException;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The streaming server with {@code [streaming] tls_cert_file} and {@code tls_key_file}: https:// URLs,
 * exec over SPDY and WebSocket through TLS (the clients trust any certificate, as crictl with Insecure:
 * true), and plain HTTP refused on the same port.
 */
class StreamingTlsIT {
    private static final Duration T = Duration.ofSeconds(20);

    private static Path certDir, cert, key;
    private static CriTestbed bed;
    private static String sleeper;

    @BeforeAll
    static void start() throws Exception {
        certDir = Files.createTempDirectory("coracle-tls-");
        cert = certDir.resolve("cert.pem");
        key = certDir.resolve("key.pem");
        Process openssl = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", key.toString(), "-out", cert.toString(), "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
                .redirectErrorStream(true).redirectOutput(certDir.resolve("openssl.log").toFile()).start();
        assertTrue(openssl.waitFor(60, TimeUnit.SECONDS), "openssl hangs");
        assertEquals(0, openssl.exitValue(), () -> readQuietly(certDir.resolve("openssl.log")));
        assertTrue(Files.readString(key).startsWith("-----BEGIN PRIVATE KEY-----"), "key is not PKCS#8 PEM");
        assertTrue(Files.readString(cert).startsWith("-----BEGIN CERTIFICATE-----"));

        bed = CriTestbed.start("[streaming]\ntls_cert_file = \"%s\"\ntls_key_file = \"%s\"\n".formatted(cert, key));
        PodSandboxConfig pod = bed.pod("tls").build();
        String podId = bed.runPod(pod);
        sleeper = bed.createAndStart(podId, pod, CriTestbed.container("sleeper", "sleep", "3600"));
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (bed != null) {
                bed.close();
            }
        } finally {
            if (certDir != null) {
                DaemonProcess.deleteTree(certDir);
            }
        }
    }

    private static String readQuietly(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static URI execUrl(String... cmd) {
        return URI.create(bed.runtime().exec(ExecRequest.newBuilder().setContainerId(sleeper).addAllCmd(List.of(cmd))
                .setStdout(true).setStderr(true).build()).getUrl());
    }

    @Test
    void theExecUrlIsHttps() {
        String url = execUrl("true").toString();
        assertTrue(url.startsWith("https://127.0.0.1:"), url);
    }

    @ParameterizedTest
    @EnumSource(StreamTransport.class)
    void execWorksThroughTls(StreamTransport t) throws Exception {
        URI url = execUrl("echo", "secure");
        try (RemoteCommandSession s = RemoteCommandClient.connect(url, t, false, true, true, false)) {
            ExitStatus status = s.awaitExit(T);
            assertTrue(status.isSuccess() && status.reported(), status.toString());
            assertEquals("secure\n", s.stdoutText());
            assertEquals("", s.stderrText());
            assertEquals(List.of(), s.protocolViolations());
        }
    }

    @Test
    void plainHttpOnTheTlsPortGetsNoHttpAnswer() throws Exception {
        URI tls = execUrl("echo", "after-plain");
        URI plain = URI.create(tls.toString().replaceFirst("^https:", "http:"));

        // Our SPDY client speaking plain HTTP: the connection ends without any HTTP response.
        IOException e = assertThrows(IOException.class,
                () -> RemoteCommandClient.connect(plain, StreamTransport.SPDY, false, true, true, false).close());
        assertFalse(e instanceof UpgradeRefusedException, e.toString());

        // The same at the byte level: whatever comes back (a TLS alert, or nothing) is no HTTP status line.
        try (Socket raw = new Socket(plain.getHost(), plain.getPort())) {
            raw.setSoTimeout(10_000);
            raw.getOutputStream().write(("GET " + plain.getRawPath() + " HTTP/1.1\r\nHost: " + plain.getRawAuthority()
                    + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            raw.getOutputStream().flush();
            byte[] answer = readUpTo(raw.getInputStream(), 5);
            assertFalse(new String(answer, StandardCharsets.ISO_8859_1).startsWith("HTTP/"),
                    "plain HTTP answered on the TLS port: " + new String(answer, StandardCharsets.ISO_8859_1));
        }

        // Plain requests never reach the router, so they do not use up the token.
        try (RemoteCommandSession s = RemoteCommandClient.connect(tls, StreamTransport.SPDY, false, true, true, false)) {
            assertTrue(s.awaitExit(T).isSuccess());
            assertEquals("after-plain\n", s.stdoutText());
        }
    }

    @Test
    void aMissingCertificateFileStopsTheDaemonNamingTheFile() throws Exception {
        Path dir = Files.createTempDirectory("coracle-it-");
        Path missing = certDir.resolve("no-such-cert.pem");
        try (DaemonProcess daemon = DaemonProcess.launchWith(dir,
                "[streaming]\ntls_cert_file = \"%s\"\ntls_key_file = \"%s\"\n".formatted(missing, key))) {
            assertTrue(daemon.process().waitFor(30, TimeUnit.SECONDS), "daemon still running: " + daemon.logText());
            assertEquals(1, daemon.process().exitValue(), daemon.logText());
            assertTrue(daemon.logText().contains("cannot start the streaming server: TLS file " + missing
                    + " (streaming.tls_cert_file) is missing or unreadable"), daemon.logText());
            assertFalse(daemon.logText().contains("serving CRI on"), daemon.logText());
            assertFalse(Files.exists(daemon.socket()));
        }
    }

    private static byte[] readUpTo(InputStream in, int n) throws IOException {
        byte[] b = new byte[n];
        int got = 0;
        while (got < n) {
            int r = in.read(b, got, n - got);
            if (r < 0) {
                break;
            }
            got += r;
        }
        return java.util.Arrays.copyOf(b, got);
    }
}
