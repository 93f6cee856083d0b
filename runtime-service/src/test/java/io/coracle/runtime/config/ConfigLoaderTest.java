package io.coracle.runtime.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.sandbox.SandboxConfig;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    @TempDir
    Path dir;

    @Test
    void missingDefaultFileMeansBuiltInDefaults() throws Exception {
        Map<String, Object> values = ConfigLoader.load(dir.resolve("absent.toml"), false);
        DaemonConfig config = DaemonConfig.from(values, Map.of(), "built-in defaults");
        assertEquals(Path.of("/run/coracle/coracle.sock"), config.socket());
        assertEquals(Path.of("/var/lib/coracle"), config.root());
        assertEquals(Path.of("/run/coracle"), config.state());
        assertEquals("info", config.logLevel());
        assertEquals(SandboxConfig.CgroupDriver.CGROUPFS, config.cgroupDriver());
        assertEquals(Duration.ofSeconds(10), config.shutdownGrace());
    }

    @Test
    void missingNamedFileIsAnError() {
        Path file = dir.resolve("absent.toml");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(file, true));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }

    @Test
    void fileValuesAreReadAndFlagsWin() throws Exception {
        Path file = write("""
                socket = "/tmp/x/coracle.sock"
                root = "/srv/coracle"
                log_level = "debug"
                cgroup_driver = "systemd"
                shutdown_grace_seconds = 3
                """);
        Map<String, Object> values = ConfigLoader.load(file, true);
        DaemonConfig config = DaemonConfig.from(values, Map.of("root", "/flag/root"), file.toString());
        assertEquals(Path.of("/tmp/x/coracle.sock"), config.socket());
        assertEquals(Path.of("/flag/root"), config.root());
        assertEquals("debug", config.logLevel());
        assertEquals(SandboxConfig.CgroupDriver.SYSTEMD, config.cgroupDriver());
        assertEquals(Duration.ofSeconds(3), config.shutdownGrace());
    }

    @Test
    void unknownKeyNamesFileAndKey() throws Exception {
        Path file = write("socket = \"/run/c.sock\"\nsokcet_mode = \"0660\"\n");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(file, true));
        assertEquals(file + ": unknown key 'sokcet_mode'", e.getMessage());
    }

    @Test
    void unknownTableKeyNamesDottedPath() throws Exception {
        Path file = write("[cni]\nbin_dir = \"/opt/cni/bin\"\n");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(file, true));
        assertEquals(file + ": unknown key 'cni.bin_dir'", e.getMessage());

        Path other = write("[netwrok]\nname = \"x\"\n");
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(other, true));
        assertEquals(other + ": unknown key 'netwrok'", e.getMessage());
    }

    @Test
    void wrongTypeNamesFileKeyAndTypes() throws Exception {
        Path file = write("shutdown_grace_seconds = \"ten\"\n");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(file, true));
        assertEquals(file + ": key 'shutdown_grace_seconds' must be an integer, got a string", e.getMessage());

        Path other = write("log_level = 3\n");
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(other, true));
        assertEquals(other + ": key 'log_level' must be a string, got an integer", e.getMessage());
    }

    @Test
    void invalidTomlNamesFileAndLine() throws Exception {
        Path file = write("socket = \"/run/c.sock\"\nroot = \n");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(file, true));
        assertTrue(e.getMessage().startsWith(file + ": not valid TOML"), e.getMessage());
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }

    @Test
    void unreadableFileNamesFile() throws Exception {
        // A directory where the file should be: unreadable even for root, unlike permission bits.
        Path notAFile = Files.createDirectory(dir.resolve("coracle.toml"));
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(notAFile, true));
        assertTrue(e.getMessage().startsWith("cannot read config file " + notAFile + ": "), e.getMessage());
    }

    @Test
    void badValuesNameTheKey() throws Exception {
        assertMessage(Map.of("log_level", "loud"), "key 'log_level' must be one of debug, info, warn, error; got 'loud'");
        assertMessage(Map.of("cgroup_driver", "cgroupv3"), "key 'cgroup_driver' must be cgroupfs or systemd; got 'cgroupv3'");
        assertMessage(Map.of("cgroup_driver", "systemd", "cgroup_parent", "/coracle"),
                "key 'cgroup_parent' must be a systemd slice name (like coracle.slice) with cgroup_driver = \"systemd\"; got '/coracle'");
        assertMessage(Map.of("root", "relative/root"), "key 'root' must be an absolute path; got 'relative/root'");
        assertMessage(Map.of("shutdown_grace_seconds", -1L), "key 'shutdown_grace_seconds' must be between 0 and 3600; got -1");
        assertMessage(Map.of("cni.default_bridge", "a-bridge-name-too-long"), "key 'cni.default_bridge' must be an "
                + "interface name of 1 to 15 letters, digits, '_', '.' or '-'; got 'a-bridge-name-too-long'");
        assertMessage(Map.of("pod_shm_size", "lots"), "key 'pod_shm_size' must be a byte count like 67108864 or 64Mi; got 'lots'");
        assertMessage(Map.of("registry.max_concurrent_downloads", 0L),
                "key 'registry.max_concurrent_downloads' must be between 1 and 64; got 0");
    }

    @Test
    void registryMirrorsAndCaFilesAreKeyedByRegistryName() throws Exception {
        Path file = write("""
                [registry]
                insecure = ["reg.local:5000"]
                [registry.mirrors."docker.io"]
                endpoints = ["http://127.0.0.1:5000", "https://mirror.example"]
                [registry.mirrors."registry.k8s.io"]
                endpoints = ["http://127.0.0.1:5001"]
                [registry.ca_files]
                "reg.local:5000" = "/etc/coracle/reg.pem"
                [cni]
                conf_dir = "/tmp/cni"
                default_bridge = "crbr0"
                """);
        DaemonConfig config = DaemonConfig.from(ConfigLoader.load(file, true), Map.of(), file.toString());
        assertEquals(List.of(URI.create("http://127.0.0.1:5000"), URI.create("https://mirror.example")),
                config.registry().mirrors().get("docker.io"));
        assertEquals(List.of(URI.create("http://127.0.0.1:5001")), config.registry().mirrors().get("registry.k8s.io"));
        assertEquals(Path.of("/etc/coracle/reg.pem"), config.registry().caFiles().get("reg.local:5000"));
        assertEquals(Set.of("reg.local:5000"), config.registry().insecure());
        assertEquals(Path.of("/tmp/cni"), config.cni().confDir());
        assertEquals("crbr0", config.cni().defaultBridge());
        assertEquals(List.of(Path.of("/opt/cni/bin"), Path.of("/usr/lib/cni")), config.cni().binDirs());
        assertEquals(64L << 20, config.podShmSizeBytes());
    }

    @Test
    void registryHostsDirectoryAuthFileAndSignaturePolicy() throws Exception {
        DaemonConfig defaults = DaemonConfig.from(Map.of(), Map.of(), "defaults");
        assertEquals(Path.of("/etc/coracle/certs.d"), defaults.registry().configPath());
        assertEquals(null, defaults.registry().authFile());
        assertEquals(Map.of(), defaults.registry().signaturePolicy());
        Path file = write("""
                [registry]
                config_path = "/etc/containerd/certs.d"
                auth_file = "/root/.docker/config.json"
                [registry.signature_policy."registry.example/prod"]
                public_keys = ["/etc/coracle/a.pub", "/etc/coracle/b.pub"]
                [registry.signature_policy."docker.io"]
                public_keys = ["/etc/coracle/hub.pub"]
                """);
        DaemonConfig config = DaemonConfig.from(ConfigLoader.load(file, true), Map.of(), file.toString());
        assertEquals(Path.of("/etc/containerd/certs.d"), config.registry().configPath());
        assertEquals(Path.of("/root/.docker/config.json"), config.registry().authFile());
        assertEquals(Map.of("registry.example/prod", List.of(Path.of("/etc/coracle/a.pub"), Path.of("/etc/coracle/b.pub")),
                "docker.io", List.of(Path.of("/etc/coracle/hub.pub"))), config.registry().signaturePolicy());
        Path none = write("[registry]\nconfig_path = \"\"\n");
        assertEquals(null, DaemonConfig.from(ConfigLoader.load(none, true), Map.of(), none.toString()).registry().configPath());
        Path relative = write("[registry.signature_policy.\"docker.io\"]\npublic_keys = [\"keys/a.pub\"]\n");
        ConfigException e = assertThrows(ConfigException.class,
                () -> DaemonConfig.from(ConfigLoader.load(relative, true), Map.of(), relative.toString()));
        assertTrue(e.getMessage().contains("registry.signature_policy.docker.io.public_keys' must be an absolute path"), e.getMessage());
    }

    @Test
    void cdiSpecDirsDefaultToEtcThenRunAndMustBeAbsolute() throws Exception {
        assertEquals(List.of(Path.of("/etc/cdi"), Path.of("/var/run/cdi")),
                DaemonConfig.from(Map.of(), Map.of(), "defaults").cdiSpecDirs());
        Path file = Files.writeString(dir.resolve("cdi.toml"), "[cdi]\nspec_dirs = [\"/opt/cdi\", \"/run/cdi\"]\n");
        assertEquals(List.of(Path.of("/opt/cdi"), Path.of("/run/cdi")),
                DaemonConfig.from(ConfigLoader.load(file, true), Map.of(), file.toString()).cdiSpecDirs());
        Path relative = Files.writeString(dir.resolve("cdi-rel.toml"), "[cdi]\nspec_dirs = [\"cdi\"]\n");
        ConfigException e = assertThrows(ConfigException.class,
                () -> DaemonConfig.from(ConfigLoader.load(relative, true), Map.of(), relative.toString()));
        assertTrue(e.getMessage().contains("cdi.spec_dirs"), e.getMessage());
    }

    @Test
    void badMirrorEndpointNamesKey() throws Exception {
        Path file = write("[registry.mirrors.\"docker.io\"]\nendpoints = [\"ftp://x\"]\n");
        ConfigException e = assertThrows(ConfigException.class,
                () -> DaemonConfig.from(ConfigLoader.load(file, true), Map.of(), file.toString()));
        assertEquals(file + ": key 'registry.mirrors.docker.io.endpoints' holds 'ftp://x', which is not an http:// or "
                + "https:// URL", e.getMessage());
        Path list = write("[registry.mirrors.\"docker.io\"]\nendpoints = \"http://x\"\n");
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(list, true));
        assertEquals(list + ": key 'registry.mirrors.docker.io.endpoints' must be a list of strings, got a string",
                e.getMessage());
    }

    @Test
    void defaultTomlParsesBackToDefaults() throws Exception {
        Map<String, Object> values = ConfigLoader.parse(ConfigSchema.defaultToml(), "default");
        for (ConfigKey key : ConfigSchema.KEYS) {
            if (!key.path().contains("*")) {
                assertEquals(key.defaultValue(), values.get(key.path()), key.path());
            }
        }
    }

    @Test
    void metricsTableIsReadWithLoopbackDefaults() throws Exception {
        DaemonConfig defaults = DaemonConfig.from(Map.of(), Map.of(), "built-in defaults");
        assertEquals(new DaemonConfig.Metrics(true, InetAddress.getByName("127.0.0.1"), 9465), defaults.metrics());

        Path file = write("[metrics]\nenabled = false\naddress = \"::1\"\nport = 0\n");
        DaemonConfig config = DaemonConfig.from(ConfigLoader.load(file, true), Map.of(), file.toString());
        assertEquals(new DaemonConfig.Metrics(false, InetAddress.getByName("::1"), 0), config.metrics());
    }

    @Test
    void streamingTableDefaultsToLoopbackAFreePortAndNoTls() throws Exception {
        DaemonConfig.Streaming d = DaemonConfig.from(Map.of(), Map.of(), "built-in defaults").streaming();
        assertEquals(new DaemonConfig.Streaming(InetAddress.getByName("127.0.0.1"), 0, null, null,
                java.time.Duration.ofHours(4), java.time.Duration.ofMinutes(1)), d);

        Path file = write("[streaming]\naddress = \"0.0.0.0\"\nport = 10010\ntls_cert_file = \"/etc/c.pem\"\n"
                + "tls_key_file = \"/etc/k.pem\"\nidle_timeout_seconds = 60\ntoken_ttl_seconds = 5\n");
        DaemonConfig.Streaming s = DaemonConfig.from(ConfigLoader.load(file, true), Map.of(), file.toString()).streaming();
        assertEquals(new DaemonConfig.Streaming(InetAddress.getByName("0.0.0.0"), 10010, Path.of("/etc/c.pem"),
                Path.of("/etc/k.pem"), java.time.Duration.ofSeconds(60), java.time.Duration.ofSeconds(5)), s);

        assertMessage(Map.of("streaming.tls_cert_file", "/etc/c.pem"), "keys 'streaming.tls_cert_file' and "
                + "'streaming.tls_key_file' go together; only tls_cert_file is set");
        assertMessage(Map.of("streaming.token_ttl_seconds", 0L),
                "key 'streaming.token_ttl_seconds' must be between 1 and 3600; got 0");
        assertMessage(Map.of("streaming.port", 70000L), "key 'streaming.port' must be between 0 and 65535; got 70000");
    }

    @Test
    void eventSubscriberQueueDefaultsTo1000AndIsBounded() throws Exception {
        assertEquals(1000, DaemonConfig.from(Map.of(), Map.of(), "built-in defaults").eventSubscriberQueue());
        Path file = write("[events]\nsubscriber_queue = 64\n");
        assertEquals(64, DaemonConfig.from(ConfigLoader.load(file, true), Map.of(), file.toString()).eventSubscriberQueue());
        assertMessage(Map.of("events.subscriber_queue", 15L),
                "key 'events.subscriber_queue' must be between 16 and 1000000; got 15");
        assertMessage(Map.of("events.subscriber_queue", 2_000_000L),
                "key 'events.subscriber_queue' must be between 16 and 1000000; got 2000000");
    }

    @Test
    void badMetricsPortOrAddressNamesTheKey() throws Exception {
        assertMessage(Map.of("metrics.port", 65536L), "key 'metrics.port' must be between 0 and 65535; got 65536");
        assertMessage(Map.of("metrics.port", -1L), "key 'metrics.port' must be between 0 and 65535; got -1");
        assertMessage(Map.of("metrics.address", "localhost"),
                "key 'metrics.address' must be an IP address like 127.0.0.1 or ::1; got 'localhost'");
        assertMessage(Map.of("metrics.address", "300.1.2.3"),
                "key 'metrics.address' must be an IP address like 127.0.0.1 or ::1; got '300.1.2.3'");

        Path file = write("[metrics]\nport = \"9465\"\n");
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(file, true));
        assertEquals(file + ": key 'metrics.port' must be an integer, got a string", e.getMessage());
        Path other = write("[metrics]\nenabled = \"no\"\n");
        e = assertThrows(ConfigException.class, () -> ConfigLoader.load(other, true));
        assertEquals(other + ": key 'metrics.enabled' must be a boolean, got a string", e.getMessage());
    }

    private void assertMessage(Map<String, Object> fileValues, String expected) {
        ConfigException e = assertThrows(ConfigException.class,
                () -> DaemonConfig.from(fileValues, Map.of(), "/etc/coracle/coracle.toml"));
        assertEquals("/etc/coracle/coracle.toml: " + expected, e.getMessage());
    }

    private Path write(String text) throws IOException {
        return Files.writeString(Files.createTempFile(dir, "coracle", ".toml"), text);
    }
}
