package io.coracle.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.oci.Resources;
import io.coracle.sys.NativePrograms;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("cgroup")
class CgroupsTest {
    private static final CgroupCreator CREATOR = new CgroupCreator(NativePrograms.locate());

    private static String read(Cgroups cgroups, String controller, String path, String file) throws IOException {
        return Files.readString(Path.of(cgroups.v2() ? "/sys/fs/cgroup" + path + "/" + file
                : "/sys/fs/cgroup/" + controller + path + "/" + file)).trim();
    }

    static boolean hasCpusets(Cgroups cgroups) throws IOException {
        return cgroups.v2() ? Files.readString(Path.of("/sys/fs/cgroup/cgroup.controllers")).contains("cpuset")
                : Files.isDirectory(Path.of("/sys/fs/cgroup/cpuset"));
    }

    @Test
    void createStatsAndRemoveAPodCgroup() throws Exception {
        Cgroups cgroups = Cgroups.detect();
        assertEquals(Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers")), cgroups.v2());
        String pod = "/coracle-test-pod-" + UUID.randomUUID().toString().substring(0, 8);
        String path = pod + "/ctr";
        try {
            CREATOR.create(path, new Resources(new Resources.Memory(64L << 20, null, null),
                    new Resources.Cpu(512L, 50_000L, 100_000L, null, null), new Resources.Pids(42), null, null));
            assertTrue(cgroups.exists(path));
            if (!cgroups.v2()) {
                assertEquals("67108864", read(cgroups, "memory", path, "memory.limit_in_bytes"));
                assertEquals("512", read(cgroups, "cpu", path, "cpu.shares"));
                assertEquals("50000", read(cgroups, "cpu", path, "cpu.cfs_quota_us"));
                assertEquals("42", read(cgroups, "pids", path, "pids.max"));
                // Inherited down from the root, or nothing could join it.
                assertFalse(read(cgroups, "cpuset", path, "cpuset.cpus").isBlank());
                assertFalse(read(cgroups, "cpuset", pod, "cpuset.mems").isBlank());
            } else {
                assertEquals("67108864", read(cgroups, "", path, "memory.max"));
                assertEquals("50000 100000", read(cgroups, "", path, "cpu.max"));
                assertEquals(String.valueOf(1 + ((512 - 2) * 9999) / 262142), read(cgroups, "", path, "cpu.weight"));
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

    @Test
    void aLimitTheKernelRefusesNamesTheFileAndLeavesNoCgroup() throws Exception {
        Cgroups cgroups = Cgroups.detect();
        String pod = "/coracle-test-pod-" + UUID.randomUUID().toString().substring(0, 8);
        try {
            // No such CPU: the kernel refuses the cpuset (ERANGE past the kernel's CPU count). A v2 kernel
            // without the cpuset controller (user-mode-linux) has no file to write: the shim says so.
            IOException e = assertThrows(IOException.class, () -> CREATOR.create(pod, new Resources(null,
                    new Resources.Cpu(null, null, null, "4095", null), null, null, null)));
            assertTrue(hasCpusets(cgroups) ? e.getMessage().startsWith("write '4095' to ") && e.getMessage().contains("/cpuset.cpus: ")
                    : e.getMessage().startsWith("linux.resources.cpu.cpus: this node's cgroup v2 hierarchy has no cpuset controller"),
                    e.getMessage());
            assertFalse(cgroups.exists(pod), "the failed create removes what it made");
            // A path that climbs out of the hierarchies is refused before anything is made.
            e = assertThrows(IOException.class, () -> CREATOR.create(pod + "/../../etc", null));
            assertTrue(e.getMessage().contains("'..' is not allowed"), e.getMessage());
        } finally {
            if (cgroups.exists(pod)) {
                cgroups.remove(pod);
            }
        }
    }
}
