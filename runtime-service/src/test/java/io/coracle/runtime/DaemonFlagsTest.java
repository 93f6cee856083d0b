package io.coracle.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DaemonFlagsTest {

    @Test
    void defaultNetworkIsOffUnlessTheSwitchOrTheFileTurnsItOn(@TempDir Path dir) throws Exception {
        Path empty = Files.writeString(dir.resolve("empty.toml"), "");
        assertFalse(Main.parseDaemonFlags(List.of("--config", empty.toString())).cni().defaultNetwork());
        assertTrue(Main.parseDaemonFlags(List.of("--config", empty.toString(), "--default-network")).cni().defaultNetwork());
        Path on = Files.writeString(dir.resolve("on.toml"), "[cni]\ndefault_network = true\n");
        assertTrue(Main.parseDaemonFlags(List.of("--config", on.toString())).cni().defaultNetwork());
    }

    @Test
    void theSwitchTakesNoValueAndUnknownFlagsAreRefused(@TempDir Path dir) throws Exception {
        Path empty = Files.writeString(dir.resolve("empty.toml"), "");
        Exception e = assertThrows(Exception.class,
                () -> Main.parseDaemonFlags(List.of("--config", empty.toString(), "--default-network=yes")));
        assertEquals("unknown flag '--default-network=yes'", e.getMessage());
    }
}
