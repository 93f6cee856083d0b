package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** sd_notify datagrams, received on a real unix datagram socket as systemd binds it. */
class SystemdNotifierTest {
    private static final long PID = ProcessHandle.current().pid();

    @TempDir
    Path dir;

    @Test
    void readyStatusWatchdogAndStoppingOnAPathSocket() throws Exception {
        String path = dir.resolve("notify").toString();
        try (NotifySocket socket = new NotifySocket(path);
             SystemdNotifier systemd = SystemdNotifier.fromEnvironment(
                     Map.of("NOTIFY_SOCKET", path, "WATCHDOG_USEC", "200000"), PID)) {
            assertTrue(systemd.enabled());
            systemd.ready("serving CRI on unix:///run/x.sock");
            String ready = socket.receive(Duration.ofSeconds(5));
            assertEquals("READY=1\nSTATUS=serving CRI on unix:///run/x.sock\nMAINPID=" + PID + "\n", ready);
            List<String> pings = socket.receiveFor(Duration.ofMillis(550));
            assertTrue(pings.size() >= 3 && pings.stream().allMatch("WATCHDOG=1\n"::equals),
                    "WATCHDOG=1 every 100 ms (half of WATCHDOG_USEC): " + pings);
            systemd.status("two\nlines");
            assertEquals("STATUS=two lines\n", nextNonWatchdog(socket));
            systemd.stopping("stopping");
            assertEquals("STOPPING=1\nSTATUS=stopping\n", nextNonWatchdog(socket));
            assertEquals(List.of(), socket.receiveFor(Duration.ofMillis(300)), "no watchdog after STOPPING=1");
        }
    }

    @Test
    void abstractSocketName() throws Exception {
        String name = "@coracle-test-notify-" + Long.toHexString(System.nanoTime());
        try (NotifySocket socket = new NotifySocket(name);
             SystemdNotifier systemd = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", name), PID)) {
            systemd.ready("up");
            String ready = socket.receive(Duration.ofSeconds(5));
            assertNotNull(ready);
            assertTrue(ready.startsWith("READY=1\nSTATUS=up\n"), ready);
            assertEquals(List.of(), socket.receiveFor(Duration.ofMillis(200)), "no watchdog without WATCHDOG_USEC");
        }
    }

    @Test
    void theWatchdogOfAnotherProcessIsNotOurs() throws Exception {
        String path = dir.resolve("notify").toString();
        try (NotifySocket socket = new NotifySocket(path);
             SystemdNotifier systemd = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", path,
                     "WATCHDOG_USEC", "100000", "WATCHDOG_PID", Long.toString(PID + 1)), PID)) {
            systemd.ready("up");
            assertTrue(socket.receive(Duration.ofSeconds(5)).startsWith("READY=1\n"));
            assertEquals(List.of(), socket.receiveFor(Duration.ofMillis(300)));
        }
    }

    @Test
    void withoutOrWithABadNotifySocketNothingIsSent() throws Exception {
        assertFalse(SystemdNotifier.fromEnvironment(Map.of(), PID).enabled());
        assertFalse(SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", "relative/notify"), PID).enabled());
        assertFalse(SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", "/" + "x".repeat(120)), PID).enabled());
        assertNull(SystemdNotifier.sockaddr("@"));
        // A socket nobody listens on: the daemon carries on (logged, never thrown).
        SystemdNotifier gone = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", dir.resolve("none").toString()), PID);
        gone.ready("up");
        gone.stopping("down");
        assertFalse(Files.exists(dir.resolve("none")));
    }

    @Test
    void sockaddrLayout() {
        byte[] path = SystemdNotifier.sockaddr("/run/n");
        assertEquals(2 + 6 + 1, path.length); // family, the path, its NUL
        assertEquals(1, path[0]);
        assertEquals('/', path[2]);
        assertEquals(0, path[path.length - 1]);
        byte[] abs = SystemdNotifier.sockaddr("@n");
        assertEquals(2 + 2, abs.length); // family, a leading NUL, the name without a trailing NUL
        assertEquals(0, abs[2]);
        assertEquals('n', abs[3]);
    }

    private static String nextNonWatchdog(NotifySocket socket) throws Exception {
        for (int i = 0; i < 100; i++) {
            String m = socket.receive(Duration.ofSeconds(5));
            if (m == null || !m.equals("WATCHDOG=1\n")) {
                return m;
            }
        }
        return null;
    }
}
