package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.registry.Credentials;
import io.coracle.image.registry.RegistryClient;
import io.coracle.image.registry.RegistryEndpoint;
import io.coracle.image.registry.RegistryTls;
import io.coracle.image.store.ImageRecord;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import io.coracle.testing.TestPki;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** containerd's hosts.toml directory against real docker-registry instances: TLS, mTLS, skip_verify, mirrors, override_path. */
class RegistryHostsTest {
    @TempDir
    Path tmp;
    final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
    }

    <T extends AutoCloseable> T closeLater(T c) {
        closing.add(c);
        return c;
    }

    ImageService open(String rootName, Path hostsDir) {
        return closeLater(new ImageService(ImageServiceConfig.defaults(tmp.resolve(rootName)).withPlatform("linux/amd64")
                .withHostsDir(hostsDir).withRequestTimeout(Duration.ofSeconds(10)).withMaxRetries(0)));
    }

    static TestImage smallImage(String file) {
        return new TestImage().layer(new TestLayer().file(file, file + "\n").tar(), TestImage.Compression.GZIP).build(false);
    }

    static final java.util.concurrent.atomic.AtomicLong STAMP = new java.util.concurrent.atomic.AtomicLong(System.currentTimeMillis());

    static void write(Path file, String text) throws Exception {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
        // Each version a later mtime, as edits seconds apart have (this test writes them within a millisecond).
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(STAMP.addAndGet(10_000)));
    }

    @Test
    void mirrorWithCaFromHostsTomlServesTheUpstreamName() throws Exception {
        TestPki pki = TestPki.create(tmp.resolve("pki"), "mirror");
        TestPki.Issued server = pki.server("registry", "127.0.0.1");
        LocalRegistry mirror = closeLater(LocalRegistry.startTls(tmp.resolve("mirror"), false, server.cert(), server.key(), null));
        TestImage img = smallImage("pause");
        img.push(new RegistryPusher(URI.create("https://" + mirror.host())).trusting(RegistryClient.sslContextFor(pki.caCert())),
                "pause", "3.10");
        Path hosts = tmp.resolve("certs.d");
        Files.createDirectories(hosts.resolve("registry.k8s.io"));
        Files.copy(pki.caCert(), hosts.resolve("registry.k8s.io/mirror-ca.pem"));
        // The upstream (registry.k8s.io resolves to 127.0.0.1:443 in tests: nothing listens) is never needed.
        write(hosts.resolve("registry.k8s.io/hosts.toml"), """
                server = "https://registry.k8s.io"

                [host."https://%s"]
                  capabilities = ["pull", "resolve"]
                  ca = "mirror-ca.pem"
                """.formatted(mirror.host()));
        ImageService s = open("root", hosts);
        ImageRecord r = s.pull("registry.k8s.io/pause:3.10", Credentials.ANONYMOUS);
        assertEquals(img.configDigest().toString(), r.id());
        assertEquals(List.of("registry.k8s.io/pause:3.10"), r.repoTags());

        // Without the CA the mirror's certificate is not trusted, and the upstream is down: the pull fails.
        write(hosts.resolve("registry.k8s.io/hosts.toml"), """
                server = "https://registry.k8s.io"
                [host."https://%s"]
                  capabilities = ["pull", "resolve"]
                """.formatted(mirror.host()));
        ImageService s2 = open("root2", hosts);
        ImageException e = assertThrows(ImageException.class, () -> s2.pull("registry.k8s.io/pause:3.10", Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.UNAVAILABLE, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains(mirror.host()), e.getMessage());
    }

    @Test
    void mutualTlsNeedsTheClientCertificateEveryKeyFormWorksAndEditsApplyWithoutRestart() throws Exception {
        TestPki serverPki = TestPki.create(tmp.resolve("pki"), "server");
        TestPki clientPki = TestPki.create(tmp.resolve("pki-client"), "client");
        TestPki otherPki = TestPki.create(tmp.resolve("pki-other"), "other");
        TestPki.Issued server = serverPki.server("registry", "127.0.0.1");
        LocalRegistry reg = closeLater(LocalRegistry.startTls(tmp.resolve("reg"), false, server.cert(), server.key(),
                List.of(clientPki.caCert())));
        TestPki.Issued pusherCert = clientPki.client("pusher", TestPki.KeyForm.PKCS8_RSA);
        // The pusher presents a client certificate too.
        TestImage img = smallImage("mtls");
        img.push(new RegistryPusher(URI.create("https://" + reg.host())).trusting(RegistryTls.contextFor(new RegistryEndpoint.Tls(
                List.of(serverPki.caCert()), List.of(new RegistryEndpoint.ClientCert(pusherCert.cert(), pusherCert.key())), false), "pusher")), "team/app", "1");
        String ref = reg.host() + "/team/app:1";
        Path hosts = tmp.resolve("certs.d");
        Path file = hosts.resolve(reg.host().replace(":", "_") + "_").resolve("hosts.toml");
        write(file, """
                server = "https://%s"
                ca = "%s"
                """.formatted(reg.host(), serverPki.caCert()));
        ImageService s = open("root", hosts);
        ImageException refused = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.UNAVAILABLE, refused.reason(), refused.getMessage());

        // A certificate from another CA is refused by the registry as well.
        TestPki.Issued foreign = otherPki.client("foreign", TestPki.KeyForm.PKCS8_RSA);
        write(file, """
                server = "https://%s"
                ca = "%s"
                client = [["%s", "%s"]]
                """.formatted(reg.host(), serverPki.caCert(), foreign.cert(), foreign.key()));
        ImageException foreignRefused = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.UNAVAILABLE, foreignRefused.reason(), foreignRefused.getMessage());

        // The same running service picks up the edited file: each key form the operator may have.
        for (TestPki.KeyForm form : TestPki.KeyForm.values()) {
            TestPki.Issued c = clientPki.client("node-" + form.name().toLowerCase(), form);
            write(file, """
                    server = "https://%s"
                    ca = ["%s"]
                    client = [["%s", "%s"]]
                    """.formatted(reg.host(), serverPki.caCert(), c.cert(), c.key()));
            ImageService fresh = open("root-" + form, hosts);
            assertEquals(img.configDigest().toString(), fresh.pull(ref, Credentials.ANONYMOUS).id(), form.name());
        }
        // The first service, still running, sees the last edit too.
        assertEquals(img.configDigest().toString(), s.pull(ref, Credentials.ANONYMOUS).id());

        // One file holding certificate and key (client = "file"), and Docker's certificate-file layout without hosts.toml.
        TestPki.Issued combined = clientPki.client("combined", TestPki.KeyForm.SEC1_EC);
        Path both = tmp.resolve("combined.pem");
        Files.writeString(both, Files.readString(combined.cert()) + Files.readString(combined.key()));
        write(file, """
                server = "https://%s"
                ca = "%s"
                client = "%s"
                """.formatted(reg.host(), serverPki.caCert(), both));
        assertEquals(img.configDigest().toString(), open("root-combined", hosts).pull(ref, Credentials.ANONYMOUS).id());

        Files.delete(file);
        Path dockerDir = file.getParent();
        Files.copy(serverPki.caCert(), dockerDir.resolve("ca.crt"));
        Files.copy(combined.cert(), dockerDir.resolve("client.cert"));
        Files.copy(combined.key(), dockerDir.resolve("client.key"));
        assertEquals(img.configDigest().toString(), open("root-docker", hosts).pull(ref, Credentials.ANONYMOUS).id());
    }

    @Test
    void skipVerifyTrustsOnlyTheHostItIsSetFor() throws Exception {
        Path[] cert = LocalRegistry.selfSignedCert(tmp.resolve("certs"), "lab");
        LocalRegistry lab = closeLater(LocalRegistry.start(tmp.resolve("lab"), false, cert[0], cert[1]));
        LocalRegistry other = closeLater(LocalRegistry.start(tmp.resolve("other"), false, cert[0], cert[1]));
        TestImage img = smallImage("lab");
        for (LocalRegistry r : List.of(lab, other)) {
            img.push(new RegistryPusher(URI.create("https://" + r.host())).trusting(RegistryClient.sslContextFor(cert[0])), "lab/app", "1");
        }
        Path hosts = tmp.resolve("certs.d");
        write(hosts.resolve(lab.host()).resolve("hosts.toml"), """
                server = "https://%s"
                skip_verify = true
                """.formatted(lab.host()));
        write(hosts.resolve(other.host()).resolve("hosts.toml"), """
                server = "https://%s"
                """.formatted(other.host()));
        ImageService s = open("root", hosts);
        assertEquals(img.configDigest().toString(), s.pull(lab.host() + "/lab/app:1", Credentials.ANONYMOUS).id());
        ImageException e = assertThrows(ImageException.class, () -> s.pull(other.host() + "/lab/app:1", Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.UNAVAILABLE, e.reason(), e.getMessage());
    }

    @Test
    void overridePathHeadersNamespaceAndCapabilities() throws Exception {
        LocalRegistry upstream = closeLater(LocalRegistry.start(tmp.resolve("upstream")));
        TestImage img = smallImage("app");
        img.push(new RegistryPusher(upstream.base()), "library/app", "2");
        FaultProxy odd = closeLater(new FaultProxy(upstream.base()));
        odd.apiPrefix = "/api/registry";
        FaultProxy pullOnly = closeLater(new FaultProxy(upstream.base()));
        Path hosts = tmp.resolve("certs.d");
        // docker.io: a pull-only public mirror (never asked to resolve a tag), then a mirror with a non-standard API root.
        write(hosts.resolve("docker.io/hosts.toml"), """
                server = "https://registry-1.docker.io"

                [host."%s"]
                  capabilities = ["pull"]

                [host."%s/api/registry"]
                  capabilities = ["pull", "resolve"]
                  override_path = true
                  dial_timeout = "2s"
                  [host."%s/api/registry".header]
                    x-mirror-token = "tok-1"
                """.formatted(pullOnly.base(), odd.base(), odd.base()));
        ImageService s = open("root", hosts);
        ImageRecord r = s.pull("app:2", Credentials.ANONYMOUS);
        assertEquals(img.configDigest().toString(), r.id());
        assertEquals(List.of("docker.io/library/app:2"), r.repoTags());

        // The tag was resolved by the resolve-capable host only, with its header and the ns parameter.
        assertTrue(pullOnly.requests.stream().noneMatch(q -> q.contains("/manifests/2")), pullOnly.requests.toString());
        assertTrue(odd.requests.stream().anyMatch(q -> q.startsWith("GET /api/registry/library/app/manifests/2?ns=docker.io none tok-1")),
                odd.requests.toString());
        // Content by digest came from the first host that may pull, without the other host's header.
        assertTrue(pullOnly.requests.stream().anyMatch(q -> q.contains("/v2/library/app/blobs/sha256:") && q.contains("ns=docker.io")
                && q.endsWith(" null")), pullOnly.requests.toString());
    }

    @Test
    void defaultNamespaceAndPrecedenceOverTheDeprecatedKeys() throws Exception {
        LocalRegistry mirror = closeLater(LocalRegistry.start(tmp.resolve("mirror")));
        LocalRegistry legacy = closeLater(LocalRegistry.start(tmp.resolve("legacy")));
        TestImage fromMirror = smallImage("mirror");
        TestImage fromLegacy = smallImage("legacy");
        fromMirror.push(new RegistryPusher(mirror.base()), "org/tool", "1");
        fromLegacy.push(new RegistryPusher(legacy.base()), "org/tool", "1");
        Path hosts = tmp.resolve("certs.d");
        write(hosts.resolve("_default/hosts.toml"), """
                server = "%s"
                """.formatted(mirror.base()));
        ImageService s = closeLater(new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64")
                .withHostsDir(hosts).withMaxRetries(0)
                .withMirrors(Map.of("quay.example", List.of(legacy.base())))));
        // _default serves every registry without a directory of its own, also over the deprecated mirrors.
        assertEquals(fromMirror.configDigest().toString(), s.pull("quay.example/org/tool:1", Credentials.ANONYMOUS).id());
        assertEquals(fromMirror.configDigest().toString(), s.pull("ghcr.example/org/tool:1", Credentials.ANONYMOUS).id());

        // Without a hosts directory the deprecated keys still work.
        ImageService old = closeLater(new ImageService(ImageServiceConfig.defaults(tmp.resolve("root-old")).withPlatform("linux/amd64")
                .withMaxRetries(0).withMirrors(Map.of("quay.example", List.of(legacy.base())))
                .withInsecureRegistries(Set.of("quay.example"))));
        assertEquals(fromLegacy.configDigest().toString(), old.pull("quay.example/org/tool:1", Credentials.ANONYMOUS).id());
    }

    @Test
    void malformedHostsTomlFailsThePullNamingTheFile() throws Exception {
        Path hosts = tmp.resolve("certs.d");
        write(hosts.resolve("bad.example/hosts.toml"), "server = \n");
        write(hosts.resolve("caps.example/hosts.toml"), "[host.\"https://m.example\"]\ncapabilities = [\"fetch\"]\n");
        write(hosts.resolve("none.example/hosts.toml"), "server = \"https://none.example\"\ncapabilities = [\"push\"]\n");
        ImageService s = open("root", hosts);
        ImageException bad = assertThrows(ImageException.class, () -> s.pull("bad.example/a:1", Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.INVALID_ARGUMENT, bad.reason());
        assertTrue(bad.getMessage().contains(hosts.resolve("bad.example/hosts.toml").toString()), bad.getMessage());
        ImageException caps = assertThrows(ImageException.class, () -> s.pull("caps.example/a:1", Credentials.ANONYMOUS));
        assertTrue(caps.getMessage().contains("unknown capability 'fetch'"), caps.getMessage());
        ImageException none = assertThrows(ImageException.class, () -> s.pull("none.example/a:1", Credentials.ANONYMOUS));
        assertTrue(none.getMessage().contains("'resolve' capability"), none.getMessage());
        assertFalse(Files.exists(tmp.resolve("root/snapshots")) && Files.list(tmp.resolve("root/snapshots")).findAny().isPresent());
    }
}
