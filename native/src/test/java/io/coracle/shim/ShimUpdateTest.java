package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.coracle.cgroup.Cgroups;
import io.coracle.oci.Resources;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** UpdateContainerResources' path: the shim's "update" request writes the container's cgroup files. */
@Tag("cgroup")
class ShimUpdateTest extends BusyboxRootfsTests {
    private static final Path RUNC = Path.of("/usr/sbin/runc");
    static boolean v2;

    @BeforeAll
    static void detectCgroups() throws IOException {
        v2 = Cgroups.detect().v2();
    }

    /** A cgroup file of the container: v1 under the controller's hierarchy, v2 in its one directory. */
    private static String knob(TestContainer c, String controller, String file) throws IOException {
        Path dir = v2 ? Path.of("/sys/fs/cgroup", c.cgroup) : Path.of("/sys/fs/cgroup", controller, c.cgroup);
        return Files.readString(dir.resolve(file)).trim();
    }

    private static TestContainer sleeper(Path runtime) throws IOException {
        TestContainer c = new TestContainer(lower);
        c.runtime = runtime;
        c.resources = new Resources(new Resources.Memory(64L << 20, null, null),
                new Resources.Cpu(512L, 50_000L, 100_000L, null, null), new Resources.Pids(42), null, null);
        c.args = List.of("sh", "-c", "echo up; exec sleep 300");
        return c;
    }

    private static void updatesReachTheCgroupFiles(Path runtime) throws Exception {
        try (TestContainer c = sleeper(runtime)) {
            ShimClient client = c.create();
            client.start();
            assertEquals("67108864", knob(c, "memory", v2 ? "memory.max" : "memory.limit_in_bytes"));

            // Without a cpuset controller (user-mode-linux's v2 kernel) the update leaves cpus out.
            boolean cpusets = TestContainer.hasController("cpuset");
            client.update(new Resources(new Resources.Memory(96L << 20, null, null),
                    new Resources.Cpu(256L, 20_000L, 100_000L, cpusets ? "0" : null, null), new Resources.Pids(17), null, null));
            if (v2) {
                assertEquals("100663296", knob(c, "", "memory.max"));
                assertEquals(String.valueOf(1 + ((256 - 2) * 9999) / 262142), knob(c, "", "cpu.weight"));
                assertEquals("20000 100000", knob(c, "", "cpu.max"));
                assertEquals("17", knob(c, "", "pids.max"));
            } else {
                assertEquals("100663296", knob(c, "memory", "memory.limit_in_bytes"));
                assertEquals("256", knob(c, "cpu", "cpu.shares"));
                assertEquals("20000", knob(c, "cpu", "cpu.cfs_quota_us"));
                assertEquals("17", knob(c, "pids", "pids.max"));
            }
            if (cpusets) {
                assertEquals("0", knob(c, "cpuset", "cpuset.cpus"));
            }
            // What an update leaves out stays as it is.
            client.update(new Resources(null, null, new Resources.Pids(5), null, null));
            assertEquals("5", knob(c, "pids", "pids.max"));
            assertEquals("100663296", knob(c, "memory", v2 ? "memory.max" : "memory.limit_in_bytes"));
            assertEquals(v2 ? "20000 100000" : "20000", knob(c, "cpu", v2 ? "cpu.max" : "cpu.cfs_quota_us"));

            // A value the kernel refuses comes back naming the file; the container keeps running. No
            // such CPU, or (no cpusets) a quota below the kernel's 1 ms minimum.
            ShimException e = assertThrows(ShimException.class, () -> client.update(new Resources(null, cpusets
                    ? new Resources.Cpu(null, null, null, "4095", null) : new Resources.Cpu(null, 500L, 100_000L, null, null),
                    null, null, null)));
            assertTrue(e.getMessage().startsWith("update: "), e.getMessage());
            assertTrue(cpusets ? e.getMessage().contains("cpuset.cpus") && e.getMessage().contains("4095")
                    : e.getMessage().contains("cpu.max") && e.getMessage().contains("500"), e.getMessage());
            assertTrue(runtime == null || e.getMessage().contains("runc update exited 1"), e.getMessage());
            if (cpusets) {
                assertEquals("0", knob(c, "cpuset", "cpuset.cpus"));
            } else {
                assertEquals("20000 100000", knob(c, "cpu", "cpu.max"));
            }
            assertEquals("running", client.state().status());
        }
    }

    @Test
    void anUpdateThroughTheShimReachesTheCgroupFiles() throws Exception {
        updatesReachTheCgroupFiles(null);
    }

    @Test
    void underRuncTheShimRunsRuncUpdate() throws Exception {
        assumeTrue(Files.isExecutable(RUNC), "runc is not installed");
        updatesReachTheCgroupFiles(RUNC);
    }

    @Test
    void aMemoryLimitBelowUsageIsRefusedOnV1AndOomKillsOnV2() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            // 8 MB in the container's /dev/shm (a tmpfs): charged to its cgroup, not reclaimable without swap.
            c.args = List.of("sh", "-c", "head -c 8000000 /dev/zero > /dev/shm/x && echo held; exec sleep 300");
            c.resources = new Resources(new Resources.Memory(64L << 20, null, null), null, null, null, null);
            ShimClient client = c.create();
            client.start();
            long end = System.nanoTime() + 10_000_000_000L;
            while (!c.output("stdout").contains("held") && System.nanoTime() < end) {
                Thread.sleep(20);
            }
            assertTrue(Files.readAllLines(Path.of("/proc/swaps")).size() <= 1, "this test needs a node without swap");
            if (v2) {
                // v2 takes the limit, fails to reclaim down to it and OOM-kills the container instead
                // (whose cgroup the shim then removes).
                client.update(new Resources(new Resources.Memory(1L << 20, null, null), null, null, null, null));
                var exit = client.awaitExit(Duration.ofSeconds(20)).orElseThrow();
                assertTrue(exit.oomKilled(), exit.toString());
                return;
            }
            ShimException e = assertThrows(ShimException.class, () -> client.update(new Resources(
                    new Resources.Memory(1L << 20, null, null), null, null, null, null)));
            // EBUSY: the kernel could not reclaim down to the limit (musl says "Resource busy").
            assertTrue(e.getMessage().contains("write '1048576' to ") && e.getMessage().contains("/memory.limit_in_bytes")
                    && e.getMessage().contains("busy"), e.getMessage());
            assertEquals("67108864", knob(c, "memory", "memory.limit_in_bytes"));
        }
    }

    @Test
    void malformedUpdatesAreRefusedAndTheShimGoesOn() throws Exception {
        try (TestContainer c = sleeper(null)) {
            ShimClient client = c.create();
            client.start();
            Path sock = client.controlSocket();
            assertEquals("error update: length '70000' is not in 1..65536", raw(sock, "update 70000\n"));
            assertEquals("error update: length '-1' is not in 1..65536", raw(sock, "update -1\n"));
            assertEquals("error update: length '' is not in 1..65536", raw(sock, "update\n"));
            assertEquals("error linux.resources: not a JSON object", raw(sock, "update 2\n[]"));
            assertTrue(raw(sock, "update 5\n{\"a\":").startsWith("error linux.resources: "));
            // A body that never completes is given up after 2 s in all.
            long t0 = System.nanoTime();
            assertEquals("error update: fewer than 5 bytes of resources arrived", raw(sock, "update 5\n{"));
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
            // The body is bounded on the client side too.
            ShimException e = assertThrows(ShimException.class, () -> client.update(new Resources(null, null, null,
                    null, null, Map.of("memory.high", "1".repeat(70_000)))));
            assertTrue(e.getMessage().contains("at most 65536"), e.getMessage());
            assertEquals("42", knob(c, "pids", "pids.max"));
            assertEquals("running", client.state().status());
            // The CLI for people and scripts: "ctl ... update" takes the JSON on stdin.
            java.lang.Process ctl = new ProcessBuilder(TestContainer.PROGRAMS.shim().toString(), "ctl", "--state",
                    c.state.toString(), "update").redirectErrorStream(true).start();
            try (var in = ctl.getOutputStream()) {
                in.write("{\"pids\":{\"limit\":11}}".getBytes(StandardCharsets.UTF_8));
            }
            assertEquals("ok\n", new String(ctl.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            assertEquals(0, ctl.waitFor());
            assertEquals("11", knob(c, "pids", "pids.max"));
        }
        try (TestContainer c = new TestContainer(lower)) {
            c.useCgroup = false;
            c.args = List.of("sleep", "300");
            ShimClient client = c.create();
            client.start();
            ShimException e = assertThrows(ShimException.class, () -> client.update(new Resources(null, null,
                    new Resources.Pids(3), null, null)));
            assertTrue(e.getMessage().contains("has no cgroup"), e.getMessage());
        }
    }

    /** One request as raw bytes; the reply line. */
    private static String raw(Path socket, String request) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ch.write(ByteBuffer.wrap(request.getBytes(StandardCharsets.UTF_8)));
            ByteBuffer in = ByteBuffer.allocate(4096);
            long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (System.nanoTime() < end) {
                if (ch.read(in) < 0) {
                    break;
                }
                String s = new String(in.array(), 0, in.position(), StandardCharsets.UTF_8);
                if (s.contains("\n")) {
                    return s.substring(0, s.indexOf('\n'));
                }
            }
            return new String(in.array(), 0, in.position(), StandardCharsets.UTF_8);
        }
    }
}
