package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cgroup.Cgroups;
import io.coracle.oci.Linux;
import io.coracle.oci.Process;
import io.coracle.oci.Resources;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The shim against the real kernel, with a busybox image: what a user of a container would check. */
class ShimContainerTest extends BusyboxRootfsTests {
    private static List<String> sh(String script) {
        return List.of("sh", "-c", script);
    }

    @Test
    void processIsPid1OfANewPidNamespace() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = sh("echo pid=$$; ls /proc | grep -c '^[0-9]'");
            ExitRecord exit = c.run();
            assertEquals(0, exit.exitCode(), c.logText());
            // The shell is PID 1 and sees only itself and ls/grep (2 or 3 numeric entries).
            String out = c.output("stdout");
            assertTrue(out.startsWith("pid=1\n"), out);
            int seen = Integer.parseInt(out.split("\n")[1].trim());
            assertTrue(seen <= 3, "processes visible: " + seen);
        }
    }

    @Test
    void hostnameIsIsolated() throws Exception {
        String host = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
        try (TestContainer c = new TestContainer(lower)) {
            c.hostname = "isolated-box";
            c.caps = Process.Capabilities.of(List.of("CAP_SYS_ADMIN"));
            c.args = sh("hostname; hostname changed-inside; hostname");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("isolated-box\nchanged-inside\n", c.output("stdout"));
        }
        assertEquals(host, Files.readString(Path.of("/proc/sys/kernel/hostname")).trim());
    }

    @Test
    void hostMountsAreInvisibleAndNothingLeaksToTheHost() throws Exception {
        // Other software may mount things meanwhile: look for anything of ours on the host.
        try (TestContainer c = new TestContainer(lower)) {
            List<String> ours = List.of(c.dir.toString(), lower.toString(), "overlay / ");
            c.args = List.of("sleep", "30");
            ShimClient client = c.create();
            client.start();
            // The state file says running as soon as start has answered (the daemon reads it next).
            assertEquals("running", client.stateFile().status());
            List<String> host = Files.readAllLines(Path.of("/proc/mounts"));
            assertEquals(List.of(), host.stream().filter(l -> ours.stream().anyMatch(l::contains)).toList());
            String inside = Files.readString(Path.of("/proc/" + c.created.pid() + "/mounts"));
            assertFalse(inside.contains("/sys/fs/cgroup"), inside);
            assertFalse(inside.contains(" /work"), inside);
            assertFalse(inside.contains(" /tmp/coracle-test"), inside);
            assertTrue(inside.startsWith("overlay / overlay"), inside);
            assertTrue(inside.contains("lowerdir=" + lower + ",upperdir=" + c.upper), inside);
            // Everything mounted inside is the container's: / and what the spec lists.
            List<String> points = inside.lines().map(l -> l.split(" ")[1]).distinct().toList();
            List<String> want = new java.util.ArrayList<>(List.of("/", "/proc", "/dev", "/dev/pts", "/dev/shm",
                    "/dev/mqueue", "/sys"));
            // Masked and read-only paths that this kernel has (absent ones are skipped).
            for (String p : List.of("/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/sys", "/proc/sysrq-trigger")) {
                if (Files.exists(Path.of(p))) {
                    want.add(p);
                }
            }
            assertEquals(want, points);
        }
    }

    @Test
    void writesLandInTheUpperdirAndTheLowerdirIsUntouched() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = sh("echo written > /hello.txt; rm /bin/cat");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("written\n", Files.readString(c.upper.resolve("hello.txt")));
            assertFalse(Files.exists(lower.resolve("hello.txt")));
            assertTrue(Files.isSymbolicLink(lower.resolve("bin/cat")));
            // The removal is a whiteout (a 0:0 character device) in the upperdir.
            assertTrue(Files.exists(c.upper.resolve("bin/cat"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
        }
    }

    @Test
    @Tag("cgroup")
    void memoryLimitKillsAnAllocatingProcessAndTheExitRecordSaysOom() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.resources = new Resources(new Resources.Memory(32L << 20, null, 32L << 20), null, null, null, null);
            c.args = List.of("dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1");
            ExitRecord exit = c.run();
            assertTrue(exit.oomKilled(), exit + " " + c.logText());
            assertEquals(9, exit.signal(), exit.toString());
            assertEquals(137, exit.exitCode());
        }
    }

    @Test
    @Tag("cgroup")
    void pidsLimitStopsAForkBomb() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.resources = new Resources(null, null, new Resources.Pids(10), null, null);
            // The shell is one task of ten: nine sleeps start, then fork fails and the shell gives up.
            c.args = sh("for i in $(seq 1 30); do sleep 5 & echo started $i; done");
            ExitRecord exit = c.run();
            assertTrue(c.output("stderr").contains("can't fork"), c.logText());
            assertTrue(c.output("stdout").endsWith("started 8\nstarted 9\n"), c.output("stdout"));
            assertTrue(exit.exitCode() != 0);
        }
    }

    @Test
    @Tag("cgroup")
    void cpuQuotaHoldsABusyLoopNearTheQuota() throws Exception {
        Cgroups cgroups = Cgroups.detect();
        try (TestContainer c = new TestContainer(lower)) {
            c.resources = new Resources(null, new Resources.Cpu(null, 20_000L, 100_000L, null, null), null, null, null);
            c.args = sh("while :; do :; done");
            ShimClient client = c.create();
            client.start();
            long cpu0 = cgroups.stats(c.cgroup).cpuUsageNanos();
            long t0 = System.nanoTime();
            Thread.sleep(1500);
            long cpu = cgroups.stats(c.cgroup).cpuUsageNanos() - cpu0;
            long wall = System.nanoTime() - t0;
            double share = (double) cpu / wall;
            // Above 0.2 only by accounting jitter; below it when the (shared) machine is busy.
            assertTrue(share > 0.05 && share < 0.26, "CPU share " + share + " for a 0.2 quota");
        }
    }

    @Test
    void readonlyRootfsRefusesAWrite() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.readonlyRoot = true;
            c.args = sh("echo x > /f");
            ExitRecord exit = c.run();
            assertTrue(exit.exitCode() != 0);
            assertTrue(c.output("stderr").contains("Read-only file system"), c.logText());
            assertFalse(Files.exists(c.upper.resolve("f")));
        }
    }

    @Test
    void procKcoreIsMaskedAndProcSysReadOnly() throws Exception {
        // This kernel has no /proc/kcore (CONFIG_PROC_KCORE off): then /proc/keys shows the masking.
        String masked = Files.exists(Path.of("/proc/kcore")) ? "/proc/kcore" : "/proc/keys";
        assertTrue(Files.size(Path.of("/proc/keys")) >= 0);
        try (TestContainer c = new TestContainer(lower)) {
            c.args = sh("wc -c < " + masked + "; stat -c %t:%T " + masked
                    + "; echo 1 > /proc/sys/kernel/ns_last_pid && echo writable");
            c.run();
            // Bound to /dev/null (char device 1:3): reads nothing.
            assertEquals("0\n1:3\n", c.output("stdout"), c.logText());
            assertTrue(c.output("stderr").contains("Read-only file system"), c.logText());
        }
    }

    @Test
    void capEffMatchesTheSpecAndUnavailableCapsAreDropped() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            // CAP_SYS_RESOURCE is missing from this machine's bounding set: asked for, left out.
            c.caps = Process.Capabilities.of(List.of("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_RESOURCE"));
            c.args = sh("grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status");
            assertEquals(0, c.run().exitCode(), c.logText());
            boolean hostHasSysResource = Files.readAllLines(Path.of("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("CapBnd:")).map(l -> Long.parseUnsignedLong(l.substring(7).trim(), 16))
                    .anyMatch(m -> (m & (1L << 24)) != 0);
            String want = String.format("%016x", 0x421L | (hostHasSysResource ? 1L << 24 : 0));
            String out = c.output("stdout");
            assertTrue(out.contains("CapEff:\t" + want), out);
            assertTrue(out.contains("CapBnd:\t" + want), out);
        }
    }

    @Test
    void processRunsAsTheSpecUserWithItsGroups() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.user = new Process.User(1234, 2345, 022, List.of(3456L));
            c.args = sh("id -u; id -g; id -G; touch /dev/shm/f; stat -c '%u %g %a' /dev/shm/f");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("1234\n2345\n2345 3456\n1234 2345 644\n", c.output("stdout"));
        }
    }

    @Test
    void exitCodesAndSignalsAreRecorded() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = sh("exit 3");
            ExitRecord exit = c.run();
            assertEquals(3, exit.exitCode());
            assertEquals(0, exit.signal());
            assertTrue(exit.startedAt() > exit.createdAt() && exit.finishedAt() >= exit.startedAt(), exit.toString());
            assertEquals(exit, c.client().exitRecord().orElseThrow());
        }
        try (TestContainer c = new TestContainer(lower)) {
            c.args = List.of("sleep", "100");
            ShimClient client = c.create();
            client.start();
            assertEquals(new ContainerState("running", c.created.pid()), client.state());
            assertTrue(client.awaitExit(Duration.ofMillis(200)).isEmpty());
            client.kill(9, false);
            ExitRecord exit = client.awaitExit(Duration.ofSeconds(5)).orElseThrow();
            assertEquals(9, exit.signal());
            assertEquals(137, exit.exitCode());
            assertEquals("stopped", client.state().status());
        }
    }

    @Test
    void logFileHasTheExactCriFormat() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            // 40000 'a' then a newline: 16384 + 16384 (P) + 7232 (F); stderr line; "tail" without newline.
            // (Records of different streams are ordered as the shim reads them: the sleeps keep them apart.)
            c.args = sh("head -c 40000 /dev/zero | tr '\\0' a; echo; sleep 0.1; echo oops >&2; sleep 0.1; printf tail");
            assertEquals(0, c.run().exitCode());
            List<String> lines = Files.readAllLines(c.log);
            String ts = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z";
            assertEquals(5, lines.size(), c.logText().substring(0, Math.min(300, c.logText().length())));
            assertTrue(lines.get(0).matches(ts + " stdout P a{16384}"));
            assertTrue(lines.get(1).matches(ts + " stdout P a{16384}"));
            assertTrue(lines.get(2).matches(ts + " stdout F a{7232}"));
            assertTrue(lines.get(3).matches(ts + " stderr F oops"), lines.get(3));
            assertTrue(lines.get(4).matches(ts + " stdout F tail"), lines.get(4));
            // Each record: 30-byte timestamp, " stdout P " (10 bytes), content, newline.
            assertEquals(3 * 41 + 40000 + (41 + 4) + (41 + 4), Files.size(c.log));
        }
    }

    @Test
    void reopenLogStartsANewFileAfterRotation() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = sh("echo one; read x; echo two");
            c.stdin = true;
            ShimClient client = c.create();
            client.start();
            long end = System.nanoTime() + 5_000_000_000L;
            while (!c.logText().contains("one") && System.nanoTime() < end) {
                Thread.sleep(10);
            }
            Files.move(c.log, c.dir.resolve("ctr.log.1"));
            client.reopenLog();
            client.closeStdin();
            assertEquals(0, client.awaitExit(Duration.ofSeconds(5)).orElseThrow().exitCode());
            assertTrue(Files.readString(c.dir.resolve("ctr.log.1")).endsWith(" stdout F one\n"));
            assertTrue(c.logText().endsWith(" stdout F two\n"), c.logText());
        }
    }

    @Test
    @Tag("cgroup")
    void createFailsClearlyAndLeavesNothingForBadInput() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = List.of("no-such-command");
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("'no-such-command' not found in the image"), e.getMessage());
            assertEquals(ShimException.ErrorClass.INVALID, e.errorClass(), "decided in the container process, carried through the monitor to the launcher");
            assertFalse(Files.exists(c.state), "state dir left behind");
        }
        try (TestContainer c = new TestContainer(lower)) {
            c.namespaces.add(new Linux.Namespace("network", "/proc/999999999/ns/net"));
            c.namespaces.removeIf(n -> n.type().equals("network") && n.path() == null);
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("linux.namespaces[4].path: open /proc/999999999/ns/net: No such file"),
                    e.getMessage());
        }
        try (TestContainer c = new TestContainer(lower)) {
            Files.delete(c.rootfs);
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("root.path"), e.getMessage());
            assertEquals(ShimException.ErrorClass.INVALID, e.errorClass());
        }
        try (TestContainer c = new TestContainer(lower)) {
            c.create(); // writes a valid config; then break it for a second create
            c.client().kill(9, false);
            c.client().awaitExit(Duration.ofSeconds(5));
            Files.writeString(c.bundle.resolve("config.json"), "{\"ociVersion\": \"1.0.2\", \"process\": [}");
            ShimException e = assertThrows(ShimException.class, () -> new ShimLauncher(TestContainer.PROGRAMS)
                    .create(new CreateRequest(c.bundle, c.dir.resolve("s2"), null, false), Duration.ofSeconds(5)));
            assertTrue(e.getMessage().contains("invalid JSON"), e.getMessage());
            assertEquals(ShimException.ErrorClass.INVALID, e.errorClass(), "decided by the launcher before the monitor");
        }
        try (TestContainer c = new TestContainer(lower)) {
            // Settings that would change the host are refused.
            c.namespaces.removeIf(n -> n.type().equals("network"));
            c.sysctl = java.util.Map.of("net.ipv4.ip_forward", "1");
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("'net.ipv4.ip_forward' needs the container's own network namespace"),
                    e.getMessage());
            c.sysctl = java.util.Map.of("vm.swappiness", "1");
            e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("'vm.swappiness' is not namespaced"), e.getMessage());
            c.sysctl = null;
            c.namespaces.removeIf(n -> n.type().equals("uts"));
            e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("hostname: needs a uts namespace"), e.getMessage());
            assertEquals(ShimException.ErrorClass.INVALID, e.errorClass(), "decided as the launcher loads the spec");
        }
        try (TestContainer c = new TestContainer(lower)) {
            // A failure after the cgroup exists (bad mount type) must remove the cgroup.
            c.extraMounts.add(new io.coracle.oci.Mount("/x", "nosuchfs", "none", null));
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("mount none (type nosuchfs) on /x"), e.getMessage());
            assertEquals(ShimException.ErrorClass.INTERNAL, e.errorClass(), "a mount(2) the kernel refuses is a syscall failure");
            assertEquals(List.of(), TestContainer.leakedCgroups(c.cgroup));
        }
    }

    @Test
    void execRunsInsideTheContainerAndItsTimeoutKills() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = List.of("sleep", "100");
            ShimClient client = c.create();
            client.start();
            ExecRunner runner = new ExecRunner(TestContainer.PROGRAMS);
            Process p = new Process(false, null, new Process.User(0, 0, null, null),
                    List.of("sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo err >&2; exit 7"),
                    List.of("PATH=/bin"), "/", c.caps, null, true, null);
            ExecResult r = runner.run(client, p, Duration.ofSeconds(10), 1 << 20);
            assertEquals(7, r.exitCode());
            assertEquals(c.hostname + "\nsleep 100 ", new String(r.stdout(), StandardCharsets.UTF_8));
            assertEquals("err\n", new String(r.stderr(), StandardCharsets.UTF_8));
            Process slow = new Process(false, null, p.user(), List.of("sleep", "60"), List.of("PATH=/bin"), "/",
                    c.caps, null, true, null);
            long t0 = System.nanoTime();
            ExecResult t = runner.run(client, slow, Duration.ofMillis(300), 1 << 20);
            assertTrue(t.timedOut());
            assertTrue(System.nanoTime() - t0 < 3_000_000_000L);
            // The timed-out exec is gone: only the container's sleep is left in its cgroup.
            Thread.sleep(100);
            assertEquals(List.of(c.created.pid()), Cgroups.detect().pids(c.cgroup));
            // A background process holding the output pipes does not hold up the result.
            Process bg = new Process(false, null, p.user(), List.of("sh", "-c", "sleep 30 & echo started"),
                    List.of("PATH=/bin"), "/", c.caps, null, true, null);
            long t1 = System.nanoTime();
            ExecResult b = runner.run(client, bg, Duration.ofSeconds(10), 1 << 20);
            assertEquals("started\n", new String(b.stdout(), StandardCharsets.UTF_8));
            assertEquals(0, b.exitCode());
            assertTrue(System.nanoTime() - t1 < 5_000_000_000L);
            Process missing = new Process(false, null, p.user(), List.of("nope"), List.of("PATH=/bin"), "/",
                    c.caps, null, true, null);
            ShimException e = assertThrows(ShimException.class, () -> runner.run(client, missing, Duration.ofSeconds(5), 1 << 20));
            assertTrue(e.getMessage().contains("'nope' not found in the image"), e.getMessage());
            assertEquals(ShimException.ErrorClass.INVALID, e.errorClass(), "the exit record's class");
        }
    }

    @Test
    void twoContainersJoiningOnePauseShareItsNetIpcUtsAndPidNamespaces() throws Exception {
        io.coracle.sys.PauseLauncher pauses = new io.coracle.sys.PauseLauncher(TestContainer.PROGRAMS);
        int pause = pauses.launch(new java.util.LinkedHashSet<>(List.of("net", "ipc", "uts", "pid")), "the-pod", null,
                Duration.ofSeconds(5));
        try (TestContainer a = new TestContainer(lower); TestContainer b = new TestContainer(lower)) {
            for (TestContainer c : List.of(a, b)) {
                c.hostname = null;
                c.namespaces.clear();
                c.namespaces.add(TestContainer.ns("mount"));
                for (String[] k : new String[][] {{"network", "net"}, {"ipc", "ipc"}, {"uts", "uts"}, {"pid", "pid"}}) {
                    c.namespaces.add(new Linux.Namespace(k[0], "/proc/" + pause + "/ns/" + k[1]));
                }
                c.args = List.of("sleep", "30");
                c.create().start();
            }
            for (String kind : List.of("net", "ipc", "uts", "pid")) {
                String want = Files.readSymbolicLink(Path.of("/proc/" + pause + "/ns/" + kind)).toString();
                assertEquals(want, Files.readSymbolicLink(Path.of("/proc/" + a.created.pid() + "/ns/" + kind)).toString());
                assertEquals(want, Files.readSymbolicLink(Path.of("/proc/" + b.created.pid() + "/ns/" + kind)).toString());
            }
            assertTrue(!Files.readSymbolicLink(Path.of("/proc/" + a.created.pid() + "/ns/mnt"))
                    .equals(Files.readSymbolicLink(Path.of("/proc/" + b.created.pid() + "/ns/mnt"))));
            // Inside: the pod's hostname, and the pause as PID 1 next to both sleeps.
            ExecResult r = new ExecRunner(TestContainer.PROGRAMS).run(a.client(), new Process(false, null,
                    new Process.User(0, 0, null, null), List.of("sh", "-c", "hostname; cat /proc/1/comm; cat /proc/[0-9]*/comm | grep -c sleep"),
                    List.of("PATH=/bin"), "/", a.caps, null, true, null), Duration.ofSeconds(10), 1 << 20);
            assertEquals("the-pod\ncoracle-pause\n2\n", new String(r.stdout(), StandardCharsets.UTF_8),
                    new String(r.stderr(), StandardCharsets.UTF_8));
        } finally {
            io.coracle.sys.Syscalls.kill(pause, 9);
        }
    }

    @Test
    void leftoversInASharedPidNamespaceAreKilledWhenTheMainProcessExits() throws Exception {
        io.coracle.sys.PauseLauncher pauses = new io.coracle.sys.PauseLauncher(TestContainer.PROGRAMS);
        int pause = pauses.launch(new java.util.LinkedHashSet<>(List.of("pid")), null, null, Duration.ofSeconds(5));
        try (TestContainer c = new TestContainer(lower)) {
            c.namespaces.removeIf(n -> n.type().equals("pid"));
            c.namespaces.add(new Linux.Namespace("pid", "/proc/" + pause + "/ns/pid"));
            // A child that outlives the main process and holds its stdout: the kernel does not kill it
            // (the pod's pause is the namespace's init), so the shim must.
            c.args = sh("sleep 600 & exec sleep 0.3");
            ShimClient client = c.create();
            client.start();
            long started = System.nanoTime();
            ExitRecord exit = client.awaitExit(Duration.ofSeconds(10)).orElseThrow();
            long millis = (System.nanoTime() - started) / 1_000_000;
            assertEquals(0, exit.exitCode());
            assertTrue(millis < 900, "the exit was recorded " + millis + " ms after start: the drain waited for the"
                    + " leftover's pipe");
            String procs = Files.readString(Path.of("/proc/" + pause + "/task/" + pause + "/children")).trim();
            assertEquals("", procs, "processes left in the pod's PID namespace");
        } finally {
            io.coracle.sys.Syscalls.kill(pause, 9);
        }
    }

    @Test
    void shimAndContainerSurviveKill9OfTheProcessThatLaunchedThem() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = List.of("sleep", "60");
            io.coracle.oci.OciJson.writeConfig(c.bundle, c.spec());
            String shim = TestContainer.PROGRAMS.shim().toString();
            // A stand-in daemon: creates and starts the container, then stays around to be killed.
            java.lang.Process daemon = new ProcessBuilder("/bin/sh", "-c", shim + " create --bundle " + c.bundle
                    + " --state " + c.state + " --log " + c.log + " && " + shim + " ctl --state " + c.state
                    + " start && exec sleep 60").redirectErrorStream(true).start();
            long end = System.nanoTime() + 10_000_000_000L;
            while (!(Files.exists(c.state.resolve("state.json")) && c.client().stateFile().status().equals("running"))
                    && System.nanoTime() < end) {
                Thread.sleep(10);
            }
            ShimStateFile sf = c.client().stateFile();
            assertEquals("running", sf.status());
            daemon.destroyForcibly(); // SIGKILL
            assertTrue(daemon.waitFor(5, java.util.concurrent.TimeUnit.SECONDS));
            Thread.sleep(200);
            assertTrue(!TestContainer.gone(sf.shimPid()), "shim died with its launcher");
            assertTrue(!TestContainer.gone(sf.pid()), "container died with the launcher");
            // A new client (as after a daemon restart) still controls it.
            assertEquals(new ContainerState("running", sf.pid()), c.client().state());
            c.client().kill(9, false);
            assertEquals(9, c.client().awaitExit(Duration.ofSeconds(5)).orElseThrow().signal());
        }
    }

    @Test
    void seccompFilterFromTheSpecIsEnforced() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.seccomp = new io.coracle.oci.Seccomp("SCMP_ACT_ALLOW", null, List.of("SCMP_ARCH_X86_64"),
                    List.of(new io.coracle.oci.Seccomp.Syscall(List.of("mkdir", "mkdirat"), "SCMP_ACT_ERRNO", 1, null)));
            c.args = sh("mkdir /d; echo rc=$?");
            c.run();
            assertEquals("rc=1\n", c.output("stdout"));
            assertTrue(c.output("stderr").contains("Operation not permitted"), c.logText());
        }
        try (TestContainer c = new TestContainer(lower)) {
            c.seccomp = new io.coracle.oci.Seccomp("SCMP_ACT_BOGUS", null, null, null);
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("linux.seccomp.defaultAction"), e.getMessage());
        }
    }

    @Test
    void terminalContainerGetsAPtyAndAttachCarriesStdinAndOutput() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.terminal = true;
            c.args = sh("tty; stty size; read line; echo got:$line");
            ShimClient client = c.create();
            client.resize(40, 100);
            try (java.nio.channels.SocketChannel attach = java.nio.channels.SocketChannel.open(
                    java.net.UnixDomainSocketAddress.of(client.attachSocket()))) {
                client.start();
                byte[] line = "hello\n".getBytes(StandardCharsets.UTF_8);
                java.nio.ByteBuffer frame = java.nio.ByteBuffer.allocate(5 + line.length);
                frame.put((byte) 0).putInt(line.length).put(line).flip();
                attach.write(frame);
                ExitRecord exit = client.awaitExit(Duration.ofSeconds(10)).orElseThrow();
                assertEquals(0, exit.exitCode(), c.logText());
                // What attach saw: framed stdout (type 1) only, since a pty merges the streams.
                attach.configureBlocking(true);
                java.io.ByteArrayOutputStream seen = new java.io.ByteArrayOutputStream();
                java.nio.ByteBuffer head = java.nio.ByteBuffer.allocate(5);
                while (attach.read(head) > 0 || head.position() > 0) {
                    if (head.hasRemaining()) {
                        continue;
                    }
                    head.flip();
                    assertEquals(1, head.get());
                    java.nio.ByteBuffer body = java.nio.ByteBuffer.allocate(head.getInt());
                    while (body.hasRemaining() && attach.read(body) > 0) {
                        // read the frame
                    }
                    seen.write(body.array());
                    head.clear();
                }
                String out = seen.toString(StandardCharsets.UTF_8);
                assertTrue(out.contains("/dev/pts/0"), out);
                assertTrue(out.contains("40 100"), out);
                assertTrue(out.contains("got:hello"), out);
            }
            assertTrue(c.output("stdout").contains("got:hello"), c.logText());
            assertEquals("", c.output("stderr"));
        }
    }

    @Test
    void sysctlsRlimitsAndOomScoreAdjAreApplied() throws Exception {
        String hostForward = Files.readString(Path.of("/proc/sys/net/ipv4/ip_forward")).trim();
        String shimAdj = Files.readString(Path.of("/proc/self/oom_score_adj")).trim();
        try (TestContainer c = new TestContainer(lower)) {
            c.sysctl = java.util.Map.of("net.ipv4.ip_forward", hostForward.equals("1") ? "0" : "1",
                    "kernel.shm_rmid_forced", "1");
            c.rlimits = List.of(new Process.Rlimit("RLIMIT_NOFILE", 456, 123));
            c.oomScoreAdj = 500;
            c.args = sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced /proc/self/oom_score_adj; ulimit -n; ulimit -Hn");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals((hostForward.equals("1") ? "0" : "1") + "\n1\n500\n123\n456\n", c.output("stdout"));
        }
        assertEquals(hostForward, Files.readString(Path.of("/proc/sys/net/ipv4/ip_forward")).trim());
        try (TestContainer c = new TestContainer(lower)) {
            // Lowering below the shim's own value needs CAP_SYS_RESOURCE (missing here): clamped, logged.
            c.oomScoreAdj = -998;
            c.args = sh("cat /proc/self/oom_score_adj");
            assertEquals(0, c.run().exitCode(), c.logText());
            String got = c.output("stdout").trim();
            boolean hasSysResource = Files.readAllLines(Path.of("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("CapEff:")).map(l -> Long.parseUnsignedLong(l.substring(7).trim(), 16))
                    .anyMatch(m -> (m & (1L << 24)) != 0);
            if (hasSysResource) {
                assertEquals("-998", got);
            } else {
                assertEquals(shimAdj, got);
                assertTrue(Files.readString(c.state.resolve("shim.log")).contains("process.oomScoreAdj -998 refused"));
            }
        }
    }

    @Test
    void startReportsAnExecFailureAndKillBeforeStartEndsTheContainer() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = List.of("sleep", "30");
            ShimClient client = c.create();
            assertEquals(new ContainerState("created", c.created.pid()), client.state());
            // Created: isolated already (own PID namespace), not yet running the command.
            assertEquals("coracle-shim", Files.readString(Path.of("/proc/" + c.created.pid() + "/comm")).trim());
            client.kill(9, false);
            ExitRecord exit = client.awaitExit(Duration.ofSeconds(5)).orElseThrow();
            assertEquals(9, exit.signal());
            assertEquals(0, exit.startedAt());
            ShimException e = assertThrows(ShimException.class, client::start);
            assertTrue(e.getMessage().contains("no shim") || e.getMessage().contains("connect")
                    || e.getMessage().contains("exited"), e.getMessage());
        }
        try (TestContainer c = new TestContainer(lower)) {
            // The command exists at create but is gone at start: start says why.
            c.args = List.of("/tmp/vanishing");
            Path bin = Files.createDirectories(c.upper.resolve("tmp")).resolve("vanishing");
            Files.copy(lower.resolve("bin/busybox"), bin);
            ShimClient client = c.create();
            // Remove it through the container's own view (changing an upperdir under a mounted overlay is not allowed).
            Files.delete(Path.of("/proc/" + c.created.pid() + "/root/tmp/vanishing"));
            ShimException e = assertThrows(ShimException.class, client::start);
            assertTrue(e.getMessage().contains("start: execve /tmp/vanishing: No such file"), e.getMessage());
            assertEquals(127, client.awaitExit(Duration.ofSeconds(5)).orElseThrow().exitCode());
        }
    }

    @Test
    void interactiveExecWithATtyRunsAShellAndResizes() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = List.of("sleep", "30");
            ShimClient client = c.create();
            client.start();
            // (Not an interactive shell: busybox's line editor queries the terminal and eats early input.)
            Process p = new Process(true, null, new Process.User(0, 0, null, null),
                    List.of("sh", "-c", "tty; read x; stty size; echo got:$((x*7)); exit 5"), List.of("PATH=/bin"),
                    "/", c.caps, null, true, null);
            ExecSession session = new ExecRunner(TestContainer.PROGRAMS).start(client, p, true);
            java.lang.Process exec = session.process();
            long end = System.nanoTime() + 5_000_000_000L;
            while (!session.resize(33, 121) && System.nanoTime() < end) {
                Thread.sleep(10); // until the shim has the FIFO open
            }
            Thread.sleep(100);
            exec.getOutputStream().write("6\n".getBytes(StandardCharsets.UTF_8));
            exec.getOutputStream().flush();
            assertTrue(exec.waitFor(10, java.util.concurrent.TimeUnit.SECONDS));
            String out = new String(exec.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(5, exec.exitValue(), out);
            assertEquals(5, session.exitCode().get(5, java.util.concurrent.TimeUnit.SECONDS));
            assertTrue(out.contains("/dev/pts/"), out);
            assertTrue(out.contains("33 121"), out);
            assertTrue(out.contains("got:42"), out);
            Thread.sleep(100);
            assertFalse(Files.exists(session.resizeFifo()));
        }
    }

    @Test
    void hugepageLimitLandsInTheHybridUnifiedHierarchy() throws Exception {
        Path unified = Path.of("/sys/fs/cgroup/unified");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(unified.resolve("cgroup.controllers"))
                && Files.readString(unified.resolve("cgroup.controllers")).contains("hugetlb"), "no hybrid hugetlb here");
        try (TestContainer c = new TestContainer(lower)) {
            c.resources = new Resources(null, null, null, List.of(new Resources.HugepageLimit("2MB", 4L << 20)), null);
            c.args = List.of("sleep", "30");
            c.create().start();
            Path dir = unified.resolve(c.cgroup);
            assertEquals(String.valueOf(4L << 20), Files.readString(dir.resolve("hugetlb.2MB.max")).trim());
            assertEquals(List.of(String.valueOf(c.created.pid())), Files.readAllLines(dir.resolve("cgroup.procs")));
        }
    }

    @Test
    void deviceCgroupRulesAreEnforcedOnV1() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/sys/fs/cgroup/devices/devices.allow")),
                "no v1 devices controller");
        try (TestContainer c = new TestContainer(lower)) {
            // Deny everything, then allow /dev/null (1:3) only.
            c.resources = new Resources(null, null, null, null, List.of(
                    new Resources.DeviceRule(false, "a", null, null, "rwm"),
                    new Resources.DeviceRule(true, "c", 1L, 3L, "rwm")));
            c.args = sh("echo ok > /dev/null && echo null-ok; head -c 1 /dev/zero > /dev/null || echo zero-denied");
            c.run();
            assertEquals("null-ok\nzero-denied\n", c.output("stdout"), c.logText());
            assertTrue(c.output("stderr").contains("Operation not permitted"), c.logText());
        }
    }

    @Test
    void attachWithoutTerminalFramesStdoutAndStderrAndFeedsStdin() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.stdin = true;
            c.args = sh("read a; echo out:$a; echo err:$a >&2");
            ShimClient client = c.create();
            try (java.nio.channels.SocketChannel attach = java.nio.channels.SocketChannel.open(
                    java.net.UnixDomainSocketAddress.of(client.attachSocket()))) {
                client.start();
                byte[] line = "hi\n".getBytes(StandardCharsets.UTF_8);
                attach.write(java.nio.ByteBuffer.allocate(5 + line.length).put((byte) 0).putInt(line.length).put(line).flip());
                assertEquals(0, client.awaitExit(Duration.ofSeconds(10)).orElseThrow().exitCode());
                StringBuilder out = new StringBuilder(), err = new StringBuilder();
                java.nio.ByteBuffer head = java.nio.ByteBuffer.allocate(5);
                while (attach.read(head) >= 0) {
                    if (head.hasRemaining()) {
                        continue;
                    }
                    head.flip();
                    byte type = head.get();
                    java.nio.ByteBuffer body = java.nio.ByteBuffer.allocate(head.getInt());
                    while (body.hasRemaining() && attach.read(body) > 0) {
                        // the rest of the frame
                    }
                    (type == 1 ? out : err).append(new String(body.array(), StandardCharsets.UTF_8));
                    assertTrue(type == 1 || type == 2, "frame type " + type);
                    head.clear();
                }
                assertEquals("out:hi\n", out.toString());
                assertEquals("err:hi\n", err.toString());
            }
        }
    }

    @Test
    void configJsonEscapesAreDecoded() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.env.add("GREETING=PLACEHOLDER");
            c.args = sh("echo \"$GREETING\"");
            io.coracle.oci.OciJson.writeConfig(c.bundle, c.spec());
            Path config = c.bundle.resolve("config.json");
            // Written by hand: \\u escapes (BMP and a surrogate pair), an escaped quote and a tab.
            Files.writeString(config, Files.readString(config).replace("PLACEHOLDER",
                    "caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\\tend"));
            ShimClient client = new ShimLauncher(TestContainer.PROGRAMS)
                    .create(new CreateRequest(c.bundle, c.state, c.log, false), Duration.ofSeconds(10)).client();
            client.start();
            assertEquals(0, client.awaitExit(Duration.ofSeconds(10)).orElseThrow().exitCode());
            assertEquals("caf\u00e9 \ud83d\ude00 \"q\"\tend\n", c.output("stdout"));
        }
    }

    @Test
    @Tag("cgroup")
    void nestedCgroupPathIsCreatedWithCpusetsAndRemovedUpToWhatTheShimMade() throws Exception {
        boolean v2 = Cgroups.detect().v2();
        boolean cpusets = TestContainer.hasController("cpuset");
        try (TestContainer c = new TestContainer(lower)) {
            c.cgroupSuffix = "/pod/ctr";
            c.resources = cpusets ? new Resources(null, new Resources.Cpu(null, null, null, "0", null), null, null, null)
                    : new Resources(new Resources.Memory(64L << 20, null, null), null, null, null, null);
            c.args = sh("cat /proc/self/cgroup");
            ShimClient client = c.create();
            if (cpusets) {
                Path cpuset = v2 ? Path.of("/sys/fs/cgroup", c.cgroup, "pod", "ctr")
                        : Path.of("/sys/fs/cgroup/cpuset", c.cgroup, "pod", "ctr");
                assertEquals("0", Files.readString(cpuset.resolve("cpuset.cpus")).trim());
                if (!v2) { // v1 starts a cpuset empty: the shim copies the parent's down
                    assertFalse(Files.readString(cpuset.resolve("cpuset.mems")).isBlank());
                    assertFalse(Files.readString(cpuset.getParent().resolve("cpuset.cpus")).isBlank());
                }
            } else {
                assertEquals(String.valueOf(64L << 20),
                        Files.readString(Path.of("/sys/fs/cgroup", c.cgroup, "pod", "ctr", "memory.max")).trim());
            }
            client.start();
            assertEquals(0, client.awaitExit(Duration.ofSeconds(10)).orElseThrow().exitCode());
            String out = c.output("stdout");
            if (v2) {
                assertEquals("0::/" + c.cgroup + "/pod/ctr\n", out);
            } else {
                assertTrue(out.contains(":cpuset:/" + c.cgroup + "/pod/ctr\n"), out);
                assertTrue(out.contains(":memory:/" + c.cgroup + "/pod/ctr\n"), out);
            }
            // The shim made all three levels, so it removes all three.
            assertFalse(Files.exists(Path.of(v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory", c.cgroup)));
        }
    }

    @Test
    void bindMountsHonourReadOnlyAndRelativeSources() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            Path data = Files.createDirectories(c.bundle.resolve("data"));
            Files.writeString(data.resolve("in.txt"), "from the host\n");
            Path rw = Files.createDirectories(c.dir.resolve("rw"));
            c.extraMounts.add(new io.coracle.oci.Mount("/data", "bind", "data", List.of("rbind", "ro", "rprivate")));
            c.extraMounts.add(new io.coracle.oci.Mount("/rw", "bind", rw.toString(), List.of("bind", "rw")));
            c.args = sh("cat /data/in.txt; echo x > /data/new || echo ro-refused; echo y > /rw/out.txt");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("from the host\nro-refused\n", c.output("stdout"));
            assertEquals("y\n", Files.readString(rw.resolve("out.txt")));
            assertFalse(Files.exists(data.resolve("new")));
        }
    }
}
