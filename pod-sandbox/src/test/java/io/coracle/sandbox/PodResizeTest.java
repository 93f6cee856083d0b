package io.coracle.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.CriError;
import io.coracle.cri.v1.HugepageLimit;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.UpdatePodSandboxResourcesRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** UpdatePodSandboxResources: the pod cgroup's limits rewritten live, checked first, all or nothing. */
@Tag("cgroup")
class PodResizeTest {
    private static final String MEMORY = PodFixture.V2 ? "memory.max" : "memory.limit_in_bytes";
    private static final String SHARES = PodFixture.V2 ? "cpu.weight" : "cpu.shares";

    private PodFixture f;

    @BeforeEach
    void setUp() throws Exception {
        f = new PodFixture();
    }

    @AfterEach
    void tearDown() throws Exception {
        f.close();
    }

    private Sandbox pod(String name) {
        PodSandboxConfig.Builder b = f.podWithParent(name);
        b.getLinuxBuilder().setResources(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(64L << 20).setCpuShares(256));
        return f.get(f.run(b));
    }

    private void update(String id, LinuxContainerResources resources, LinuxContainerResources overhead) {
        UpdatePodSandboxResourcesRequest.Builder r = UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId(id)
                .setResources(resources);
        if (overhead != null) {
            r.setOverhead(overhead);
        }
        f.service.updateResources(r.build());
    }

    private static String file(Sandbox s, String controller, String name) throws Exception {
        return Files.readString(PodFixture.cgroupFile(controller, s.cgroupParent(), name)).trim();
    }

    private static String cpuMax(Sandbox s) throws Exception {
        return PodFixture.V2 ? file(s, "cpu", "cpu.max") : file(s, "cpu", "cpu.cfs_quota_us") + " " + file(s, "cpu", "cpu.cfs_period_us");
    }

    @Test
    void limitsChangeLiveWithTheOverheadAdded() throws Exception {
        Sandbox s = pod("grow");
        assertEquals(String.valueOf(64L << 20), file(s, "memory", MEMORY));
        update(s.id(), LinuxContainerResources.newBuilder().setMemoryLimitInBytes(128L << 20).setCpuShares(1024)
                        .setCpuQuota(50_000).setCpuPeriod(100_000).build(),
                LinuxContainerResources.newBuilder().setMemoryLimitInBytes(8L << 20).setCpuShares(2).setCpuQuota(10_000).build());
        assertEquals(String.valueOf(136L << 20), file(s, "memory", MEMORY));
        // v2: shares 1026 as a weight, 1 + (1026 - 2) * 9999 / 262142
        assertEquals(PodFixture.V2 ? "40" : "1026", file(s, "cpu", SHARES));
        assertEquals("60000 100000", cpuMax(s));
        assertEquals(List.of(String.valueOf(s.pausePid())),
                Files.readAllLines(PodFixture.cgroupFile("memory", s.pauseCgroup(), "cgroup.procs")), "pause stays where it was");
        // And down again (the pod uses far less than 32 MiB).
        update(s.id(), LinuxContainerResources.newBuilder().setMemoryLimitInBytes(32L << 20).setCpuShares(512).build(), null);
        assertEquals(String.valueOf(32L << 20), file(s, "memory", MEMORY));
        assertEquals(PodFixture.V2 ? "20" : "512", file(s, "cpu", SHARES));
        f.service.remove(io.coracle.cri.v1.RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.id()).build());
        assertEquals(List.of(), f.traces(s));
    }

    @Test
    void hugepageLimitsOfThePodAreWritten() throws Exception {
        HostResources host = HostResources.read();
        org.junit.jupiter.api.Assumptions.assumeFalse(host.hugepageKiB().isEmpty(), "no huge page sizes here");
        long kib = host.hugepageKiB().iterator().next();
        String size = kib >= 1024 * 1024 ? kib / 1024 / 1024 + "GB" : kib / 1024 + "MB";
        Sandbox s = pod("pages");
        long limit = 4 * kib * 1024;
        update(s.id(), LinuxContainerResources.newBuilder().addHugepageLimits(HugepageLimit.newBuilder().setPageSize(size)
                .setLimit(limit)).build(), null);
        Path v1 = PodFixture.cgroupFile("hugetlb", s.cgroupParent(), "hugetlb." + size + ".limit_in_bytes");
        Path unified = Path.of(PodFixture.V2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified", s.cgroupParent(), "hugetlb." + size + ".max");
        assertEquals(String.valueOf(limit), Files.readString(Files.exists(v1) ? v1 : unified).trim());
    }

    @Test
    void invalidValuesAreRefusedBeforeAnythingIsWritten() throws Exception {
        Sandbox s = pod("bad");
        String memory = file(s, "memory", MEMORY), shares = file(s, "cpu", SHARES);
        for (LinuxContainerResources bad : List.of(
                LinuxContainerResources.newBuilder().setCpuShares(1024).setCpuPeriod(10).build(),
                LinuxContainerResources.newBuilder().setCpuShares(1024).setCpuQuota(-5).build(),
                LinuxContainerResources.newBuilder().setCpuShares(1024).setMemoryLimitInBytes(4096).build(),
                LinuxContainerResources.newBuilder().setCpuShares(1_000_000).build(),
                LinuxContainerResources.newBuilder().setCpuShares(1024).putUnified("cgroup.procs", "1").build(),
                LinuxContainerResources.newBuilder().setCpuShares(1024).putUnified("../x", "1").build(),
                LinuxContainerResources.newBuilder().setCpuShares(1024).addHugepageLimits(
                        HugepageLimit.newBuilder().setPageSize("3MB").setLimit(1)).build())) {
            CriError e = assertThrows(CriError.class, () -> update(s.id(), bad, null), bad.toString());
            assertEquals(CriError.Kind.INVALID, e.kind(), e.getMessage());
            assertTrue(e.getMessage().startsWith("resources."), e.getMessage());
        }
        CriError e = assertThrows(CriError.class, () -> update(s.id(), LinuxContainerResources.getDefaultInstance(),
                LinuxContainerResources.newBuilder().setCpuPeriod(5).build()));
        assertTrue(e.getMessage().startsWith("overhead.cpu_period"), e.getMessage());
        assertEquals(memory, file(s, "memory", MEMORY));
        assertEquals(shares, file(s, "cpu", SHARES));
    }

    @Test
    void aMemoryLimitBelowTheCurrentUsageIsRefusedAndNothingChanges() throws Exception {
        Sandbox s = pod("full");
        // A process of the pod fills the pod's /dev/shm: 16 MiB of tmpfs the pod's cgroup keeps charged.
        Path procs = PodFixture.cgroupFile("memory", s.pauseCgroup(), "cgroup.procs");
        PodFixture.sh("sh", "-c", "echo $$ > " + procs + " && exec dd if=/dev/zero of=" + s.shmDir().resolve("fill")
                + " bs=1M count=16 status=none");
        String memory = file(s, "memory", MEMORY), shares = file(s, "cpu", SHARES);
        CriError e = assertThrows(CriError.class, () -> update(s.id(),
                LinuxContainerResources.newBuilder().setMemoryLimitInBytes(8L << 20).setCpuShares(2048).build(), null));
        assertEquals(CriError.Kind.PRECONDITION, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("below the pod's current usage"), e.getMessage());
        assertEquals(memory, file(s, "memory", MEMORY));
        assertEquals(shares, file(s, "cpu", SHARES));
        assertTrue(s.pause().alive(), "nothing of the pod was OOM-killed");
    }

    @Test
    void whenTheKernelRefusesAFileHalfWayTheEarlierLimitsAreWrittenBack() throws Exception {
        Sandbox s = pod("half");
        String memory = file(s, "memory", MEMORY), shares = file(s, "cpu", SHARES), cpuMax = cpuMax(s);
        LinuxContainerResources.Builder ask = LinuxContainerResources.newBuilder().setMemoryLimitInBytes(96L << 20)
                .setCpuShares(2048);
        if (PodFixture.V2) {
            // The unified files are written last: one the kernel does not have fails after memory.max and cpu.weight.
            ask.putAllUnified(Map.of("memory.no_such_knob", "1"));
        } else {
            // v1 refuses a child's CFS quota above its parent's (EINVAL), after cpu.shares is written.
            Files.writeString(PodFixture.cgroupFile("cpu", f.cgroupRoot, "cpu.cfs_quota_us"), "50000");
            ask.setCpuQuota(80_000).setCpuPeriod(100_000);
        }
        CriError e = assertThrows(CriError.class, () -> update(s.id(), ask.build(), null));
        assertEquals(CriError.Kind.INTERNAL, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains(PodFixture.V2 ? "memory.no_such_knob" : "cpu.cfs_quota_us")
                && e.getMessage().contains("the limits stay as they were"), e.getMessage());
        assertEquals(memory, file(s, "memory", MEMORY));
        assertEquals(shares, file(s, "cpu", SHARES));
        assertEquals(cpuMax, cpuMax(s));
    }

    @Test
    void anUnknownPodIsNotFound() {
        CriError e = assertThrows(CriError.class, () -> update("0123456789abcdef", LinuxContainerResources.newBuilder()
                .setCpuShares(512).build(), null));
        assertEquals(CriError.Kind.NOT_FOUND, e.kind());
        assertEquals("sandbox 0123456789abcdef not found", e.getMessage());
        CriError empty = assertThrows(CriError.class, () -> f.service.updateResources(
                UpdatePodSandboxResourcesRequest.getDefaultInstance()));
        assertEquals(CriError.Kind.INVALID, empty.kind());
    }
}
