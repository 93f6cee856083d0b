package io.coracle.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.oci.Resources;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class CgroupsTest {
    @Test
    void createUpdateStatsAndRemoveAPodCgroup() throws Exception {
        Cgroups cgroups = Cgroups.detect();
        assertEquals(Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers")), cgroups.v2());
        String pod = "/coracle-test-pod-" + UUID.randomUUID().toString().substring(0, 8);
        String path = pod + "/ctr";
        try {
            cgroups.create(path, new Resources(new Resources.Memory(64L << 20, null, null),
                    new Resources.Cpu(512L, 50_000L, 100_000L, null, null), new Resources.Pids(42), null, null));
            assertTrue(cgroups.exists(path));
            if (!cgroups.v2()) {
                assertEquals("67108864", Files.readString(Path.of("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes")).trim());
                assertEquals("512", Files.readString(Path.of("/sys/fs/cgroup/cpu" + path + "/cpu.shares")).trim());
                assertEquals("50000", Files.readString(Path.of("/sys/fs/cgroup/cpu" + path + "/cpu.cfs_quota_us")).trim());
                assertEquals("42", Files.readString(Path.of("/sys/fs/cgroup/pids" + path + "/pids.max")).trim());
                assertFalse(Files.readString(Path.of("/sys/fs/cgroup/cpuset" + path + "/cpuset.cpus")).isBlank());
            } else {
                assertEquals("67108864", Files.readString(Path.of("/sys/fs/cgroup" + path + "/memory.max")).trim());
                assertEquals("50000 100000", Files.readString(Path.of("/sys/fs/cgroup" + path + "/cpu.max")).trim());
            }
            // A process in it shows up in pids() and in the stats.
            Process sleeper = new ProcessBuilder("/bin/sh", "-c", "echo 0 > /sys/fs/cgroup/pids" + path
                    + "/cgroup.procs 2>/dev/null || echo 0 > /sys/fs/cgroup" + path + "/cgroup.procs; exec sleep 30").start();
            try {
                long end = System.nanoTime() + 5_000_000_000L;
                while (cgroups.pids(path).isEmpty() && System.nanoTime() < end) {
                    Thread.sleep(10);
                }
                assertEquals(List.of((int) sleeper.pid()), cgroups.pids(path));
                assertEquals(1, cgroups.stats(path).pids());
                cgroups.update(path, new Resources(null, null, new Resources.Pids(7), null, null));
                assertEquals("7", Files.readString(Path.of(cgroups.v2() ? "/sys/fs/cgroup" + path + "/pids.max"
                        : "/sys/fs/cgroup/pids" + path + "/pids.max")).trim());
            } finally {
                sleeper.destroyForcibly().waitFor();
            }
            cgroups.remove(path);
            cgroups.remove(pod);
            assertFalse(cgroups.exists(path));
            assertFalse(cgroups.exists(pod));
        } finally {
            if (cgroups.exists(path)) {
                cgroups.remove(path);
            }
            if (cgroups.exists(pod)) {
                cgroups.remove(pod);
            }
        }
    }
}
