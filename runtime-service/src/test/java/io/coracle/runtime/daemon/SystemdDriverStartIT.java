package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.testing.DaemonProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** cgroup_driver = "systemd" never falls back to writing cgroups itself: no systemd on the bus, no daemon. */
@Tag("systemd")
class SystemdDriverStartIT {

    @Test
    void theDaemonRefusesToStartWithoutSystemdsBus(@TempDir Path dir) throws Exception {
        Path bus = dir.resolve("no-bus");
        try (DaemonProcess d = DaemonProcess.launchWithTopLevel(dir,
                "cgroup_driver = \"systemd\"\ncgroup_parent = \"coracle.slice\"\nsystemd_bus = \"" + bus + "\"\n", "")) {
            assertTrue(d.process().waitFor(60, TimeUnit.SECONDS), "the daemon exits");
            String log = d.logText();
            assertTrue(d.process().exitValue() != 0, "a failure exit code:\n" + log);
            assertTrue(log.contains("cgroup_driver = \"systemd\": the system bus socket " + bus + " does not exist"),
                    "the reason is printed:\n" + log);
            assertFalse(Files.exists(dir.resolve("coracle.sock")), "no CRI socket was served");
        }
    }

    @Test
    void aBusWithoutSystemdIsRefusedToo(@TempDir Path dir) throws Exception {
        // A D-Bus daemon of its own (Debian's dbus-daemon) on a private socket: a bus, but no systemd on it.
        Path dbusDaemon = Path.of("/usr/bin/dbus-daemon");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(dbusDaemon), "dbus-daemon is installed");
        Path bus = dir.resolve("bus");
        Path conf = Files.writeString(dir.resolve("bus.conf"), """
                <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
                 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
                <busconfig>
                  <type>custom</type>
                  <listen>unix:path=%s</listen>
                  <auth>EXTERNAL</auth>
                  <policy context="default">
                    <allow send_destination="*" eavesdrop="true"/>
                    <allow eavesdrop="true"/>
                    <allow own="*"/>
                    <allow user="*"/>
                  </policy>
                </busconfig>
                """.formatted(bus));
        Process busd = new ProcessBuilder(dbusDaemon.toString(), "--config-file=" + conf, "--nofork", "--nopidfile")
                .redirectErrorStream(true).redirectOutput(dir.resolve("dbus.log").toFile()).start();
        try {
            for (int i = 0; i < 100 && !Files.exists(bus); i++) {
                Thread.sleep(50);
            }
            assertTrue(Files.exists(bus), "dbus-daemon listens on " + bus);
            try (DaemonProcess d = DaemonProcess.launchWithTopLevel(dir,
                    "cgroup_driver = \"systemd\"\ncgroup_parent = \"coracle.slice\"\nsystemd_bus = \"" + bus + "\"\n", "")) {
                assertTrue(d.process().waitFor(60, TimeUnit.SECONDS), "the daemon exits");
                String log = d.logText();
                assertTrue(d.process().exitValue() != 0, "a failure exit code:\n" + log);
                assertTrue(log.contains("cgroup_driver = \"systemd\": systemd does not answer on the system bus at " + bus),
                        "the reason is printed:\n" + log);
            }
        } finally {
            busd.destroy();
            busd.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
