package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The systemd unit shipped in the distribution (src/main/dist/coracle.service). */
class SystemdUnitTest {
    private static final Path UNIT = Path.of("src/main/dist/coracle.service");

    @Test
    void unitKeepsContainersAcrossRestartsAndWaitsForReadiness() throws Exception {
        List<String> lines = Files.readAllLines(UNIT);
        for (String line : List.of("Type=notify", "KillMode=process", "Delegate=yes", "Restart=always",
                "ExecStart=/usr/local/bin/coracle daemon", "LimitNOFILE=1048576", "OOMScoreAdjust=-999",
                "WatchdogSec=60", "WantedBy=multi-user.target")) {
            assertTrue(lines.contains(line), "coracle.service has " + line);
        }
    }

    /** systemd-analyze verify, in a root of its own holding the unit, a stand-in launcher and systemd's own units. */
    @Test
    void systemdAnalyzeVerifyFindsNothing(@TempDir Path root) throws Exception {
        Path analyze = Path.of("/usr/bin/systemd-analyze");
        Path systemUnits = Path.of("/lib/systemd/system");
        Assumptions.assumeTrue(Files.isExecutable(analyze) && Files.isDirectory(systemUnits), "systemd-analyze is installed");
        Path launcher = Files.createDirectories(root.resolve("usr/local/bin")).resolve("coracle");
        Files.writeString(launcher, "#!/bin/sh\n");
        launcher.toFile().setExecutable(true);
        Files.copy(UNIT, Files.createDirectories(root.resolve("etc/systemd/system")).resolve("coracle.service"));
        Path units = Files.createDirectories(root.resolve("usr/lib/systemd/system"));
        try (Stream<Path> s = Files.list(systemUnits)) {
            for (Path p : s.filter(p -> p.toString().endsWith(".target") && Files.isRegularFile(p)).toList()) {
                Files.copy(p, units.resolve(p.getFileName()));
            }
        }
        Process p = new ProcessBuilder(analyze.toString(), "verify", "--root=" + root, "coracle.service")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals("", out.trim(), "systemd-analyze verify says");
        assertEquals(0, p.exitValue());
    }
}
