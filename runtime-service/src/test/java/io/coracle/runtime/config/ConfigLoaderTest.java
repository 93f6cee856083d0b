package io.coracle.runtime.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
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
        assertEquals(DaemonConfig.CgroupDriver.CGROUPFS, config.cgroupDriver());
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
        assertEquals(DaemonConfig.CgroupDriver.SYSTEMD, config.cgroupDriver());
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
        assertEquals(file + ": unknown key 'cni'", e.getMessage());
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
        assertMessage(Map.of("root", "relative/root"), "key 'root' must be an absolute path; got 'relative/root'");
        assertMessage(Map.of("shutdown_grace_seconds", -1L), "key 'shutdown_grace_seconds' must be between 0 and 3600; got -1");
    }

    @Test
    void defaultTomlParsesBackToDefaults() throws Exception {
        Map<String, Object> values = ConfigLoader.parse(ConfigSchema.defaultToml(), "default");
        for (ConfigKey key : ConfigSchema.KEYS) {
            assertEquals(key.defaultValue(), values.get(key.path()), key.path());
        }
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
