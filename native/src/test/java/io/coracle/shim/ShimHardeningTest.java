package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.oci.Process;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * What a hostile container tries against its shim: rewriting the shim's binary through
 * /proc/<pid>/exe (CVE-2019-5736), reading the memory or descriptors of a shim process before it
 * becomes the container's program, and wedging the monitor by never reading its stdin or its
 * output, so that stop, kill and exec no longer answer.
 */
class ShimHardeningTest extends BusyboxRootfsTests {

    private static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }

    private static Process root(List<String> caps, String script) {
        return new Process(false, null, new Process.User(0, 0, null, null), List.of("sh", "-c", script),
                List.of("PATH=/bin"), "/", Process.Capabilities.of(caps), null, false, null);
    }

    private static String run(ShimClient client, Process p) throws IOException {
        ExecResult r = new ExecRunner(TestContainer.PROGRAMS).run(client, p, Duration.ofSeconds(20), 1 << 20);
        assertEquals(0, r.exitCode(), new String(r.stderr(), StandardCharsets.UTF_8));
        return new String(r.stdout(), StandardCharsets.UTF_8);
    }

    @Test
    void aRootContainerCannotRewriteTheShimBinaryOrReadShimProcesses() throws Exception {
        Path binary = TestContainer.PROGRAMS.shim();
        String before = sha256(binary);
        List<String> caps = List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID",
                "CAP_SETUID");
        List<String> withPtrace = new ArrayList<>(caps);
        withPtrace.add("CAP_SYS_PTRACE");
        // The attacker: root in the host's PID namespace (hostPID), so shim processes are in its /proc.
        try (TestContainer attacker = new TestContainer(lower); TestContainer victim = new TestContainer(lower)) {
            attacker.namespaces.removeIf(n -> n.type().equals("pid"));
            attacker.caps = Process.Capabilities.of(withPtrace);
            attacker.args = List.of("sleep", "100");
            ShimClient client = attacker.create();
            client.start();
            int monitor = client.stateFile().shimPid();
            // A container created but not started: its process is still the shim, before execve, with the
            // container's capabilities (no more than the attacker's: only dumpability keeps it out).
            victim.args = List.of("sleep", "100");
            victim.caps = Process.Capabilities.of(caps);
            victim.create();
            int notYetExeced = victim.created.pid();
            // $PPID of an exec'd process is the "coracle-shim exec" that joined the container.
            String targets = "/proc/" + monitor + " /proc/" + notYetExeced + " /proc/$PPID";

            // Without CAP_SYS_PTRACE the shim processes are not dumpable: nothing of them opens.
            String denied = run(client, root(caps, "for t in " + targets + "; do "
                    + "cat $t/exe >/dev/null 2>&1 && echo \"$t: exe read\"; "
                    + "cat $t/mem >/dev/null 2>&1 && echo \"$t: mem read\"; "
                    + "readlink $t/fd/0 >/dev/null 2>&1 && echo \"$t: fd link read\"; "
                    + "cat $t/environ >/dev/null 2>&1 && echo \"$t: environ read\"; "
                    + "readlink $t/exe && echo \"$t: exe link read\"; "
                    + "printf x >> $t/exe 2>/dev/null && echo \"$t: exe appended\"; "
                    + "test -r $t/status || echo \"$t: no status\"; done; true"));
            assertEquals("", denied);

            // With it, the exe is a sealed memfd copy: no write, truncation or growth reaches anything.
            String sealed = run(client, root(withPtrace, "for t in " + targets + "; do "
                    + "echo \"$t $(readlink $t/exe)\"; "
                    + "printf x >> $t/exe 2>/dev/null && echo \"$t: exe appended\"; "
                    + "printf x > $t/exe 2>/dev/null && echo \"$t: exe truncated\"; "
                    + "exec 3<$t/exe && printf x > /proc/self/fd/3 2>/dev/null && echo \"$t: reopened for write\"; "
                    + "exec 3<&-; done; true"));
            List<String> lines = sealed.lines().toList();
            assertEquals(3, lines.size(), sealed);
            for (String line : lines) {
                assertTrue(line.split(" ", 2)[1].startsWith("/memfd:coracle-shim"), sealed);
            }
            // The container's own program is dumpable again after execve (ps, gdb and /proc work in it):
            // a child of the exec'd shell reads the shell's exe and descriptors.
            assertEquals("ok\n", run(client, root(caps, "sh -c 'cat /proc/$PPID/exe > /dev/null && "
                    + "readlink /proc/$PPID/fd/1 > /dev/null && echo ok'; true")));
        }
        assertEquals(before, sha256(binary), "the shim binary on the host changed");
    }

    /** Frames of 64 KiB of stdin data to the attach socket until total bytes went or the socket is closed. */
    private static Thread streamStdin(SocketChannel attach, long total, AtomicLong sent) {
        Thread t = new Thread(() -> {
            ByteBuffer frame = ByteBuffer.allocate(5 + 65536);
            try {
                while (sent.get() < total) {
                    frame.clear();
                    frame.put((byte) 0).putInt(65536).position(5 + 65536).flip();
                    while (frame.hasRemaining()) {
                        attach.write(frame);
                    }
                    sent.addAndGet(65536);
                }
            } catch (IOException e) {
                // closed by the test, or the shim went away
            }
        });
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static long rssKiB(int pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new AssertionError("no VmRSS for " + pid);
    }

    /** The shim still answers: state, an exec, then a kill that ends the container in time. */
    private static void shimStillAnswers(TestContainer c, ShimClient client) throws Exception {
        long t0 = System.nanoTime();
        assertEquals("running", client.state().status());
        ExecResult r = new ExecRunner(TestContainer.PROGRAMS).run(client,
                root(List.of(), "echo alive"), Duration.ofSeconds(10), 1 << 20);
        assertEquals("alive\n", new String(r.stdout(), StandardCharsets.UTF_8));
        client.kill(9, true);
        assertEquals(137, client.awaitExit(Duration.ofSeconds(10)).orElseThrow().exitCode());
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "the shim took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
    }

    @Test
    void aContainerThatNeverReadsStdinCannotWedgeStopOrExec() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.stdin = true;
            c.args = List.of("sleep", "1000"); // never reads its stdin
            ShimClient client = c.create();
            AtomicLong sent = new AtomicLong();
            try (SocketChannel attach = SocketChannel.open(UnixDomainSocketAddress.of(client.attachSocket()))) {
                client.start();
                Thread writer = streamStdin(attach, 100L << 20, sent);
                // Let it fill the pipe and the shim's buffer, and then some.
                long seen = -1;
                for (int i = 0; i < 100 && sent.get() != seen; i++) {
                    seen = sent.get();
                    Thread.sleep(200);
                }
                assertTrue(writer.isAlive(), "the 100 MiB went through: nothing held them back?");
                assertTrue(sent.get() < 100L << 20, "sent " + sent.get());
                int shim = client.stateFile().shimPid();
                assertTrue(rssKiB(shim) < 4096, "the shim buffers the stdin it cannot deliver: " + rssKiB(shim) + " KiB");
                shimStillAnswers(c, client);
            }
        }
    }

    @Test
    void aTtyExecThatNeitherReadsItsTerminalNorIsReadStillEndsOnSigterm() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = List.of("sleep", "100");
            ShimClient client = c.create();
            client.start();
            // Output the caller never reads, stdin the process never reads.
            Process p = new Process(true, null, new Process.User(0, 0, null, null),
                    List.of("sh", "-c", "yes 0123456789abcdef & sleep 100"), List.of("PATH=/bin"), "/", c.caps, null,
                    true, null);
            ExecSession session = new ExecRunner(TestContainer.PROGRAMS).start(client, p, true);
            java.lang.Process exec = session.process();
            AtomicLong sent = new AtomicLong();
            Thread writer = new Thread(() -> {
                byte[] chunk = new byte[65536];
                try {
                    while (sent.get() < 100L << 20) {
                        exec.getOutputStream().write(chunk);
                        sent.addAndGet(chunk.length);
                    }
                } catch (IOException e) {
                    // the exec ended
                }
            });
            writer.setDaemon(true);
            writer.start();
            Thread.sleep(1500);
            assertTrue(sent.get() < 100L << 20, "sent " + sent.get());
            long t0 = System.nanoTime();
            exec.destroy(); // SIGTERM: the shim kills the process
            assertTrue(exec.waitFor(5, java.util.concurrent.TimeUnit.SECONDS), "the exec did not end on SIGTERM");
            assertEquals(137, session.exitCode().get(5, java.util.concurrent.TimeUnit.SECONDS));
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
            writer.join(5000);
            assertEquals("running", client.state().status());
        }
    }

    @Test
    void endlessOutputWithAStalledAttachAndAFullLogDiskCannotWedgeTheShim() throws Exception {
        Path small = Files.createTempDirectory(Path.of("/tmp"), "coracle-test-fulldisk-");
        mount(small, true);
        try {
            try (TestContainer c = new TestContainer(lower)) {
                c.log = small.resolve("ctr.log");
                c.args = List.of("yes", "0123456789abcdef0123456789abcdef");
                ShimClient client = c.create();
                try (SocketChannel attach = SocketChannel.open(UnixDomainSocketAddress.of(client.attachSocket()))) {
                    client.start(); // the attach client never reads
                    Thread.sleep(1500);
                    assertTrue(Files.size(c.log) > 0);
                    String diag = Files.readString(c.state.resolve("shim.log"));
                    long reported = diag.lines().filter(l -> l.contains("No space left on device")).count();
                    assertTrue(reported >= 1 && reported <= 2, diag); // once, not once per record
                    shimStillAnswers(c, client);
                }
            } // closed: the shim is gone and holds the log no more
        } finally {
            mount(small, false);
            Files.deleteIfExists(small.resolve("ctr.log"));
            Files.delete(small);
        }
    }

    private static void mount(Path dir, boolean on) throws Exception {
        List<String> cmd = on ? List.of("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir.toString())
                : List.of("umount", dir.toString());
        java.lang.Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
        assertFalse(on && out.contains("error"), out);
    }
}
