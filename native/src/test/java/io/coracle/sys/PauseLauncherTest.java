package io.coracle.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class PauseLauncherTest {
    private final PauseLauncher launcher = new PauseLauncher(NativePrograms.locate());

    static boolean gone(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException e) {
            return true;
        }
    }

    static String nsOf(Object pid, String kind) throws IOException {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/" + kind)).toString();
    }

    /** Children of pid that are zombies. */
    static List<String> zombieChildren(int pid) throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc"))) {
            return s.filter(p -> p.getFileName().toString().matches("\\d+")).map(p -> {
                try {
                    String st = Files.readString(p.resolve("stat"));
                    String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
                    return f[0].equals("Z") && f[1].equals(String.valueOf(pid)) ? p.getFileName().toString() : null;
                } catch (IOException e) {
                    return null;
                }
            }).filter(x -> x != null).toList();
        }
    }

    @Test
    void pauseIsPid1InNewNamespacesWithTheHostnameAndReapsAndExitsOnSigterm() throws Exception {
        Path dir = Files.createTempDirectory("coracle-test-pause");
        Path pidFile = dir.resolve("pause.pid");
        try {
            pauseLifecycle(pidFile);
        } finally {
            Files.deleteIfExists(pidFile);
            Files.delete(dir);
        }
    }

    private void pauseLifecycle(Path pidFile) throws Exception {
        int pid = launcher.launch(new LinkedHashSet<>(List.of("net", "ipc", "uts", "pid")), "pod-host", pidFile,
                Duration.ofSeconds(5));
        try {
            assertEquals(pid + "\n", Files.readString(pidFile));
            // PID 1 of its own PID namespace: NSpid lists the host PID, then 1.
            String status = Files.readString(Path.of("/proc/" + pid + "/status"));
            assertTrue(status.contains("NSpid:\t" + pid + "\t1\n"), status);
            for (String kind : List.of("net", "ipc", "uts", "pid")) {
                assertNotEquals(nsOf("self", kind), nsOf(pid, kind), kind);
            }
            assertEquals(nsOf("self", "mnt"), nsOf(pid, "mnt"));
            Process host = new ProcessBuilder("nsenter", "-t", String.valueOf(pid), "-u", "hostname").start();
            assertEquals("pod-host", new String(host.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim());
            assertEquals(0, host.waitFor());
            // Orphans in the pod are reparented to the pause, which must reap them.
            Process orphans = new ProcessBuilder("nsenter", "-t", String.valueOf(pid), "-p", "-F", "--",
                    "/bin/sh", "-c", "sleep 0.2 & sleep 0.2 & exit 0").start();
            assertEquals(0, orphans.waitFor());
            Thread.sleep(600);
            assertEquals(List.of(), zombieChildren(pid));
            assertTrue(!gone(pid));
        } finally {
            Syscalls.kill(pid, 15);
        }
        long end = System.nanoTime() + 5_000_000_000L;
        while (!gone(pid) && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertTrue(gone(pid), "pause survived SIGTERM");
    }

    @Test
    void pauseWithoutPidNamespaceIsItselfTheLaunchedProcess() throws Exception {
        int pid = launcher.launch(new LinkedHashSet<>(List.of("net", "uts")), "h2", null, Duration.ofSeconds(5));
        try {
            String status = Files.readString(Path.of("/proc/" + pid + "/status"));
            assertTrue(status.contains("NSpid:\t" + pid + "\n"), status);
            assertNotEquals(nsOf("self", "net"), nsOf(pid, "net"));
            assertEquals(nsOf("self", "ipc"), nsOf(pid, "ipc"));
        } finally {
            Syscalls.kill(pid, 2);
        }
        long end = System.nanoTime() + 5_000_000_000L;
        while (!gone(pid) && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertTrue(gone(pid));
    }

    @Test
    void badRequestsFailWithAReason() {
        IOException e = assertThrows(IOException.class,
                () -> launcher.launch(new LinkedHashSet<>(List.of("net", "bogus")), null, null, Duration.ofSeconds(5)));
        assertTrue(e.getMessage().contains("unknown namespace 'bogus'"), e.getMessage());
        e = assertThrows(IOException.class,
                () -> launcher.launch(new LinkedHashSet<>(List.of("net")), "x", null, Duration.ofSeconds(5)));
        assertTrue(e.getMessage().contains("--hostname needs a new uts namespace"), e.getMessage());
    }

    @Test
    void aPodNamespaceOutlivesThePauseWhenBindMounted() throws Exception {
        Path dir = Files.createTempDirectory("coracle-test-netns");
        Path keep = Files.createFile(dir.resolve("net"));
        int pid = launcher.launch(new LinkedHashSet<>(List.of("net", "uts")), "h3", null, Duration.ofSeconds(5));
        String ns = nsOf(pid, "net");
        try {
            Mounts.bind(Path.of("/proc/" + pid + "/ns/net"), keep);
            Syscalls.kill(pid, 9);
            long end = System.nanoTime() + 5_000_000_000L;
            while (!gone(pid) && System.nanoTime() < end) {
                Thread.sleep(10);
            }
            assertTrue(gone(pid));
            // The namespace is still there, reachable through the bind mount.
            Process p = new ProcessBuilder("nsenter", "--net=" + keep, "readlink", "/proc/self/ns/net").start();
            assertEquals(ns, new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim());
            assertEquals(0, p.waitFor());
        } finally {
            Mounts.unmount(keep, true);
            Files.delete(keep);
            Files.delete(dir);
        }
        // Unmounting what is not a mount point (a fresh directory) says why.
        Path plain = Files.createTempDirectory("coracle-test-plain");
        try {
            IOException e = assertThrows(IOException.class, () -> Mounts.unmount(plain, false));
            assertTrue(e.getMessage().contains("Invalid argument (errno 22)"), e.getMessage());
        } finally {
            Files.delete(plain);
        }
    }
}
