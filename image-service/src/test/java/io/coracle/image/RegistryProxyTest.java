package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.coracle.image.registry.Credentials;
import io.coracle.image.registry.RegistryClient;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import io.coracle.testing.TestPki;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTP_PROXY/HTTPS_PROXY/NO_PROXY through a real tinyproxy with Basic proxy auth. Loopback addresses are
 * never proxied (as in Go), so the proxied registries are named by this machine's host name, which the
 * proxy resolves to 127.0.0.1 through /etc/hosts; the direct one by a name NO_PROXY covers.
 */
class RegistryProxyTest {
    static final String PROXY_USER = "coracle";
    static final String PROXY_PASSWORD = "Pr0xy-Pa55";

    @TempDir
    Path tmp;
    final List<AutoCloseable> closing = new ArrayList<>();
    Process tinyproxy;
    int proxyPort;
    Path proxyLog;
    String node;

    @BeforeEach
    void start() throws Exception {
        node = ImagePullTest.run("hostname").trim().toLowerCase();
        String resolved = "";
        try {
            resolved = ImagePullTest.run("getent", "hosts", node);
        } catch (IllegalStateException e) {
            // not resolvable: skipped below
        }
        assumeTrue(resolved.startsWith("127."), "this machine's host name must resolve to a loopback address: " + resolved);
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/tinyproxy")), "tinyproxy is installed");
        proxyPort = LocalRegistry.freePort();
        proxyLog = tmp.resolve("tinyproxy.log");
        Path conf = Files.writeString(tmp.resolve("tinyproxy.conf"), """
                Port %d
                Listen 127.0.0.1
                Timeout 30
                LogFile "%s"
                LogLevel Info
                MaxClients 50
                BasicAuth %s %s
                """.formatted(proxyPort, proxyLog, PROXY_USER, PROXY_PASSWORD));
        tinyproxy = new ProcessBuilder("/usr/bin/tinyproxy", "-d", "-c", conf.toString()).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("tinyproxy.out").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try (Socket ignored = new Socket("127.0.0.1", proxyPort)) {
                break;
            } catch (java.io.IOException e) {
                if (System.nanoTime() > deadline || !tinyproxy.isAlive()) {
                    throw new IllegalStateException("tinyproxy did not start: " + Files.readString(tmp.resolve("tinyproxy.out")));
                }
                Thread.sleep(50);
            }
        }
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
        if (tinyproxy != null) {
            tinyproxy.toHandle().destroy();
            if (!tinyproxy.waitFor(10, TimeUnit.SECONDS)) {
                tinyproxy.toHandle().destroyForcibly();
                tinyproxy.waitFor();
            }
        }
    }

    <T extends AutoCloseable> T closeLater(T c) {
        closing.add(c);
        return c;
    }

    @Test
    void proxiedPlainAndTlsRegistriesGoThroughTheProxyNoProxyHostsDoNot() throws Exception {
        LocalRegistry plain = closeLater(LocalRegistry.start(tmp.resolve("plain")));
        LocalRegistry direct = closeLater(LocalRegistry.start(tmp.resolve("direct")));
        TestPki pki = TestPki.create(tmp.resolve("pki"), "proxy");
        TestPki.Issued cert = pki.server("tls", node, "127.0.0.1");
        LocalRegistry tls = closeLater(LocalRegistry.start(tmp.resolve("tls"), false, cert.cert(), cert.key()));
        TestImage a = SignaturePolicyTest.image("plain");
        TestImage b = SignaturePolicyTest.image("direct");
        TestImage c = SignaturePolicyTest.image("tls");
        a.push(new RegistryPusher(plain.base()), "via/plain", "1");
        b.push(new RegistryPusher(direct.base()), "no/proxy", "1");
        c.push(new RegistryPusher(URI.create("https://" + tls.host())).trusting(RegistryClient.sslContextFor(pki.caCert())), "via/tls", "1");

        Path hosts = tmp.resolve("certs.d");
        String plainName = node + ":" + plain.port();
        String tlsName = node + ":" + tls.port();
        String directName = "registry.k8s.io:" + direct.port();
        RegistryHostsTest.write(hosts.resolve(plainName).resolve("hosts.toml"), "server = \"http://" + plainName + "\"\n");
        RegistryHostsTest.write(hosts.resolve(directName).resolve("hosts.toml"), "server = \"http://" + directName + "\"\n");
        RegistryHostsTest.write(hosts.resolve(tlsName).resolve("hosts.toml"), "server = \"https://" + tlsName + "\"\nca = \"" + pki.caCert() + "\"\n");
        String proxy = "http://" + PROXY_USER + ":" + PROXY_PASSWORD + "@127.0.0.1:" + proxyPort;
        // Upper-case HTTP_PROXY, lower-case https_proxy, as systemd drop-ins mix them; .k8s.io: subdomains only.
        Map<String, String> env = Map.of("HTTP_PROXY", proxy, "https_proxy", proxy, "NO_PROXY", "10.0.0.0/8,.k8s.io,example.com:443");

        try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64")
                .withHostsDir(hosts).withProxyEnvironment(env).withMaxRetries(0).withRequestTimeout(Duration.ofSeconds(10)))) {
            assertEquals(a.configDigest().toString(), s.pull(plainName + "/via/plain:1", Credentials.ANONYMOUS).id());
            assertEquals(c.configDigest().toString(), s.pull(tlsName + "/via/tls:1", Credentials.ANONYMOUS).id());
            assertEquals(b.configDigest().toString(), s.pull(directName + "/no/proxy:1", Credentials.ANONYMOUS).id());
        }
        String log = Files.readString(proxyLog);
        assertTrue(log.contains("GET http://" + plainName + "/v2/via/plain/manifests/1"), log);
        assertTrue(log.contains("CONNECT " + tlsName), log);
        assertTrue(log.contains("opening connection to " + tlsName), log);
        assertFalse(log.contains("registry.k8s.io"), "the NO_PROXY registry went direct: " + log);

        // A wrong proxy password: the proxy refuses (tinyproxy answers a plain request 401, a CONNECT 407) and the
        // pull fails; the password is not in the error.
        String wrong = "http://" + PROXY_USER + ":not-" + PROXY_PASSWORD + "@127.0.0.1:" + proxyPort;
        try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root2")).withPlatform("linux/amd64")
                .withHostsDir(hosts).withProxyEnvironment(Map.of("http_proxy", wrong, "HTTPS_PROXY", wrong))
                .withMaxRetries(0).withRequestTimeout(Duration.ofSeconds(10)))) {
            for (String ref : List.of(plainName + "/via/plain:1", tlsName + "/via/tls:1")) {
                ImageException e = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS));
                assertTrue(e.reason() == ImageException.Reason.UNAVAILABLE || e.reason() == ImageException.Reason.UNAUTHORIZED,
                        e.getMessage());
                assertFalse(e.getMessage().contains(PROXY_PASSWORD), e.getMessage());
            }
            assertTrue(s.list().isEmpty());
        }
    }

    @Test
    void hostsTomlProxyOverridesTheEnvironmentForItsHostOnly() throws Exception {
        LocalRegistry viaProxy = closeLater(LocalRegistry.start(tmp.resolve("via")));
        LocalRegistry direct = closeLater(LocalRegistry.start(tmp.resolve("direct")));
        TestImage a = SignaturePolicyTest.image("via");
        TestImage b = SignaturePolicyTest.image("direct");
        a.push(new RegistryPusher(viaProxy.base()), "team/a", "1");
        b.push(new RegistryPusher(direct.base()), "team/b", "1");
        Path hosts = tmp.resolve("certs.d");
        // containerd's per-host proxy: used even for a loopback host and whatever NO_PROXY says.
        RegistryHostsTest.write(hosts.resolve(viaProxy.host()).resolve("hosts.toml"), """
                server = "http://%s"
                proxy = "http://%s:%s@127.0.0.1:%d"
                """.formatted(viaProxy.host(), PROXY_USER, PROXY_PASSWORD, proxyPort));
        try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64")
                .withHostsDir(hosts).withProxyEnvironment(Map.of("NO_PROXY", "*")).withMaxRetries(0))) {
            assertEquals(a.configDigest().toString(), s.pull(viaProxy.host() + "/team/a:1", Credentials.ANONYMOUS).id());
            assertEquals(b.configDigest().toString(), s.pull(direct.host() + "/team/b:1", Credentials.ANONYMOUS).id());
        }
        String log = Files.readString(proxyLog);
        assertTrue(log.contains("GET http://" + viaProxy.host() + "/v2/team/a/manifests/1"), log);
        assertFalse(log.contains(":" + direct.port()), "the other registry went direct: " + log);
    }
}
