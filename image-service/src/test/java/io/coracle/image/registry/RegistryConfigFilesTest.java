package io.coracle.image.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.ImageException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** hosts.toml parsing, NO_PROXY matching and auth-file keys, as containerd and Go read them. */
class RegistryConfigFilesTest {
    @TempDir
    Path tmp;

    @Test
    void namespaceDirectoriesAreTriedInContainerdsOrder() {
        assertEquals(List.of("myregistry.io_5000_", "myregistry.io:5000", "_default"), HostsDirectory.namespaces("myregistry.io:5000"));
        assertEquals(List.of("docker.io", "_default"), HostsDirectory.namespaces("docker.io"));
        assertEquals(List.of("[::1]_5000_", "[::1]:5000", "_default"), HostsDirectory.namespaces("[::1]:5000"));
    }

    @Test
    void everyFieldOfHostsTomlIsRead() throws Exception {
        Path ns = Files.createDirectories(tmp.resolve("registry.example:5000"));
        Files.writeString(ns.resolve("hosts.toml"), """
                server = "https://registry.example:5000"
                ca = "/etc/certs/server-ca.pem"
                dial_timeout = "1m30s"

                [host."https://mirror.example/us"]
                  capabilities = ["pull"]
                  ca = ["mirror-ca.pem", "/abs/other.pem"]
                  client = [["client.cert", "client.key"], ["both.pem", ""]]
                  skip_verify = true
                  dial_timeout = "500ms"
                  [host."https://mirror.example/us".header]
                    x-one = "a"
                    x-two = ["b", "c"]

                [host."http://plain.example:8080/api"]
                  capabilities = ["pull", "resolve"]
                  override_path = true
                  client = "single.pem"
                """);
        HostsDirectory d = new HostsDirectory(tmp);
        assertNull(d.lookup("other.example", URI.create("https://other.example")));
        List<RegistryEndpoint> hosts = d.lookup("registry.example:5000", URI.create("https://registry.example:5000"));
        assertEquals(3, hosts.size());
        RegistryEndpoint mirror = hosts.get(0);
        assertEquals(URI.create("https://mirror.example/us/v2"), mirror.apiRoot());
        assertTrue(mirror.mirror());
        assertTrue(mirror.sendsCredentials(), "a host of the registry's own hosts.toml serves its credentials");
        assertEquals(Set.of(RegistryEndpoint.Capability.PULL), mirror.capabilities());
        assertEquals(List.of(ns.resolve("mirror-ca.pem"), Path.of("/abs/other.pem")), mirror.tls().cas());
        assertEquals(List.of(new RegistryEndpoint.ClientCert(ns.resolve("client.cert"), ns.resolve("client.key")),
                new RegistryEndpoint.ClientCert(ns.resolve("both.pem"), null)), mirror.tls().clients());
        assertTrue(mirror.tls().skipVerify());
        assertEquals(Duration.ofMillis(500), mirror.dialTimeout());
        assertEquals(Map.of("x-one", List.of("a"), "x-two", List.of("b", "c")), mirror.headers());
        assertEquals(URI.create("https://mirror.example/us/v2/library/app/manifests/1?ns=registry.example%3A5000"),
                mirror.route("/v2/library/app/manifests/1"));

        RegistryEndpoint plain = hosts.get(1);
        assertEquals(URI.create("http://plain.example:8080/api/library/app/blobs/sha256:ab?ns=registry.example%3A5000"),
                plain.route("/v2/library/app/blobs/sha256:ab"));
        assertEquals(List.of(new RegistryEndpoint.ClientCert(ns.resolve("single.pem"), null)), plain.tls().clients());

        RegistryEndpoint server = hosts.get(2);
        assertFalse(server.mirror());
        assertEquals(URI.create("https://registry.example:5000/v2/a/manifests/1"), server.route("/v2/a/manifests/1"));
        assertEquals(Duration.ofSeconds(90), server.dialTimeout());
        assertEquals(Set.of(RegistryEndpoint.Capability.values()), server.capabilities());
        assertEquals(List.of(Path.of("/etc/certs/server-ca.pem")), server.tls().cas());
    }

    @Test
    void hostPortUnderscoreDirectoryWinsAndDefaultServesTheRest() throws Exception {
        Files.createDirectories(tmp.resolve("r.example_5000_"));
        Files.writeString(tmp.resolve("r.example_5000_/hosts.toml"), "server = \"https://first.example\"\n");
        Files.createDirectories(tmp.resolve("r.example:5000"));
        Files.writeString(tmp.resolve("r.example:5000/hosts.toml"), "server = \"https://second.example\"\n");
        Files.createDirectories(tmp.resolve("_default"));
        Files.writeString(tmp.resolve("_default/hosts.toml"), "[host.\"https://cache.example\"]\n");
        HostsDirectory d = new HostsDirectory(tmp);
        assertEquals(URI.create("https://first.example/v2"), d.lookup("r.example:5000", URI.create("https://r.example:5000")).getFirst().apiRoot());
        List<RegistryEndpoint> other = d.lookup("quay.example", URI.create("https://quay.example"));
        assertEquals(URI.create("https://cache.example/v2"), other.get(0).apiRoot());
        assertFalse(other.get(0).sendsCredentials(), "a _default mirror is not the credentials' registry");
        assertEquals(URI.create("https://quay.example/v2"), other.get(1).apiRoot());
        assertTrue(other.get(1).sendsCredentials());
        // docker.io as a server means Docker Hub's API host.
        Files.createDirectories(tmp.resolve("docker.io"));
        Files.writeString(tmp.resolve("docker.io/hosts.toml"), "server = \"https://docker.io\"\n");
        assertEquals(URI.create("https://registry-1.docker.io/v2"), d.lookup("docker.io", URI.create("https://registry-1.docker.io")).getFirst().apiRoot());
    }

    @Test
    void badValuesNameTheFile() throws Exception {
        Path ns = Files.createDirectories(tmp.resolve("bad.example"));
        HostsDirectory d = new HostsDirectory(tmp);
        for (String text : List.of("dial_timeout = \"soon\"\n", "skip_verify = \"yes\"\n", "server = \"ftp://x\"\n",
                "[host.\"https://m\"]\nclient = 5\n", "[host.\"https://m\".header]\n\"bad name\" = \"x\"\n",
                "[host.\"https://user:pw@m\"]\n", "server = [\n", "[header]\nHost = \"evil\"\n", "proxy = \"socks5://p:1080\"\n")) {
            Files.writeString(ns.resolve("hosts.toml"), text);
            Files.setLastModifiedTime(ns.resolve("hosts.toml"), java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + text.hashCode()));
            ImageException e = assertThrows(ImageException.class, () -> d.lookup("bad.example", URI.create("https://bad.example")), text);
            assertEquals(ImageException.Reason.INVALID_ARGUMENT, e.reason());
            assertTrue(e.getMessage().contains(ns.resolve("hosts.toml").toString()), e.getMessage());
        }
    }

    @Test
    void noProxyMatchesAsGoDoes() {
        ProxyEnvironment p = ProxyEnvironment.from(Map.of("https_proxy", "proxy.example:3128",
                "no_proxy", "10.0.0.0/8, example.com ,.internal,*.corp.example,registry.lan:5000,192.168.1.7,[fd01::1]:443,fd00::/64"));
        assertTrue(p.bypass("127.0.0.1", 443), "loopback never goes through a proxy");
        assertTrue(p.bypass("localhost", 443));
        assertTrue(p.bypass("[::1]", 443));
        assertTrue(p.bypass("10.1.2.3", 443));
        assertFalse(p.bypass("11.1.2.3", 443));
        assertTrue(p.bypass("example.com", 443));
        assertTrue(p.bypass("sub.example.com", 443));
        assertFalse(p.bypass("notexample.com", 443));
        assertTrue(p.bypass("a.internal", 443));
        assertFalse(p.bypass("internal", 443), "a leading dot matches subdomains only");
        assertTrue(p.bypass("x.corp.example", 443));
        assertFalse(p.bypass("corp.example", 443));
        assertTrue(p.bypass("registry.lan", 5000));
        assertFalse(p.bypass("registry.lan", 443), "a port limits the entry to that port");
        assertTrue(p.bypass("192.168.1.7", 443));
        assertTrue(p.bypass("[fd01::1]", 443));
        assertFalse(p.bypass("[fd01::1]", 80));
        assertTrue(p.bypass("[fd00::abcd]", 80));
        assertFalse(p.bypass("registry.example", 443));
        assertEquals(List.of(java.net.Proxy.NO_PROXY), p.select(URI.create("http://registry.example/v2/")), "no HTTP_PROXY: plain http goes direct");
        assertEquals("proxy.example:3128", p.select(URI.create("https://registry.example/v2/")).getFirst().address().toString()
                .replace("/<unresolved>", ""));
        assertTrue(ProxyEnvironment.from(Map.of("HTTPS_PROXY", "http://p:1", "NO_PROXY", "*")).bypass("anything.example", 443));
        assertFalse(ProxyEnvironment.from(Map.of()).active());
        assertFalse(ProxyEnvironment.from(Map.of("HTTPS_PROXY", "socks5://p:1")).active(), "only http:// proxies; others are refused with a warning");
    }

    @Test
    void proxyCredentialsBecomeBasicAuthorizationAndAreNeverShown() {
        ProxyEnvironment p = ProxyEnvironment.from(Map.of("HTTPS_PROXY", "http://us%40er:p%3Ass@proxy.example:8080"));
        ProxyEnvironment.Route r = p.routeFor(URI.create("https://registry.example/v2/"));
        assertEquals("Basic " + java.util.Base64.getEncoder().encodeToString("us@er:p:ss".getBytes()), r.authorization());
        assertFalse(r.display().contains("p:ss") || r.display().contains("p%3Ass"), r.display());
    }

    @Test
    void authFileKeysAreRegistriesOrRepositoryPrefixes() {
        assertEquals("docker.io", NodeCredentials.scope("https://index.docker.io/v1/"));
        assertEquals("docker.io", NodeCredentials.scope("registry-1.docker.io"));
        assertEquals("registry.example:5000", NodeCredentials.scope("http://Registry.Example:5000/v2/"));
        assertEquals("quay.io/team", NodeCredentials.scope("quay.io/team/"));
    }
}
