package io.coracle.sandbox;

import static io.coracle.sandbox.RequestChecks.invalid;
import static io.coracle.sandbox.RequestChecks.show;

import io.coracle.cri.v1.HugepageLimit;
import io.coracle.cri.v1.LinuxContainerResources;
import java.util.BitSet;

/**
 * Checks CRI LinuxContainerResources (a pod's resources and overhead, a container's resources at
 * create and update) against the kernel's ranges and this host: what the kernel would refuse at
 * write time is refused here first, naming the field.
 */
public record LinuxResourcesValidator(HostResources host, boolean cgroupV2) {
    /** The kernel's cpu.cfs_period_us range, and the smallest quota it takes (µs). */
    static final long PERIOD_MIN = 1000, PERIOD_MAX = 1_000_000, QUOTA_MIN = 1000;
    /** cpu.shares the kernel keeps (it clamps outside); cpu.weight is derived from them on v2. */
    static final long SHARES_MAX = 262_144;
    /** Below two pages the kernel refuses a memory limit. */
    static final long MEMORY_MIN = 2 * 4096;
    static final int UNIFIED_VALUE_MAX = 4096;

    public void check(String field, LinuxContainerResources r) {
        if (r.getCpuPeriod() != 0 && (r.getCpuPeriod() < PERIOD_MIN || r.getCpuPeriod() > PERIOD_MAX)) {
            throw invalid(field + ".cpu_period", r.getCpuPeriod() + " is outside " + PERIOD_MIN + ".." + PERIOD_MAX + " µs");
        }
        if (r.getCpuQuota() < -1 || (r.getCpuQuota() > 0 && r.getCpuQuota() < QUOTA_MIN)) {
            throw invalid(field + ".cpu_quota", r.getCpuQuota() + " is neither -1 (none), 0 (unset) nor at least "
                    + QUOTA_MIN + " µs");
        }
        if (r.getCpuShares() < 0 || r.getCpuShares() > SHARES_MAX) {
            throw invalid(field + ".cpu_shares", r.getCpuShares() + " is outside 0.." + SHARES_MAX);
        }
        if (r.getMemoryLimitInBytes() < 0 || (r.getMemoryLimitInBytes() > 0 && r.getMemoryLimitInBytes() < MEMORY_MIN)) {
            throw invalid(field + ".memory_limit_in_bytes", r.getMemoryLimitInBytes() + " is negative or below the kernel's "
                    + MEMORY_MIN);
        }
        if (r.getMemorySwapLimitInBytes() < 0) {
            throw invalid(field + ".memory_swap_limit_in_bytes", r.getMemorySwapLimitInBytes() + " is negative");
        }
        if (r.getOomScoreAdj() < -1000 || r.getOomScoreAdj() > 1000) {
            throw invalid(field + ".oom_score_adj", r.getOomScoreAdj() + " is outside -1000..1000");
        }
        cpuset(field + ".cpuset_cpus", r.getCpusetCpus(), host.cpus(), "online CPUs");
        cpuset(field + ".cpuset_mems", r.getCpusetMems(), host.mems(), "online memory nodes");
        for (int i = 0; i < r.getHugepageLimitsCount(); i++) {
            HugepageLimit h = r.getHugepageLimits(i);
            long kib = HostResources.pageSizeKiB(h.getPageSize());
            String f = field + ".hugepage_limits[" + i + "].page_size";
            if (kib < 0) {
                throw invalid(f, show(h.getPageSize()) + " is not a page size like 2MB or 1GB");
            }
            if (!host.hugepageKiB().contains(kib)) {
                throw invalid(f, h.getPageSize() + " pages are not available on this host (it has "
                        + host.hugepageKiB().stream().map(k -> k >= 1024 * 1024 ? k / 1024 / 1024 + "GB"
                        : k >= 1024 ? k / 1024 + "MB" : k + "KB").toList() + ")");
            }
        }
        if (!r.getUnifiedMap().isEmpty() && !cgroupV2) {
            throw invalid(field + ".unified", "needs cgroup v2; this node runs cgroup v1");
        }
        for (var e : r.getUnifiedMap().entrySet()) {
            String key = e.getKey();
            if (!key.matches("[A-Za-z0-9_]+\\.[A-Za-z0-9_.]+") || key.contains("..")) {
                throw invalid(field + ".unified", "key " + show(key) + " is not a cgroup v2 file name like memory.high");
            }
            // The core files move processes or change the tree: not a resource setting.
            if (key.startsWith("cgroup.")) {
                throw invalid(field + ".unified", "key " + show(key) + " is a cgroup core file, not a resource");
            }
            if (e.getValue().length() > UNIFIED_VALUE_MAX || e.getValue().indexOf('\0') >= 0) {
                throw invalid(field + ".unified[" + key + "]", "value longer than " + UNIFIED_VALUE_MAX
                        + " characters or holding NUL");
            }
        }
    }

    private static void cpuset(String field, String list, BitSet available, String what) {
        if (list.isEmpty()) {
            return;
        }
        BitSet asked;
        try {
            asked = HostResources.parseList(list);
        } catch (IllegalArgumentException e) {
            throw invalid(field, show(list) + " is not a list like 0-3,6: " + e.getMessage());
        }
        BitSet missing = (BitSet) asked.clone();
        missing.andNot(available);
        if (!missing.isEmpty()) {
            throw invalid(field, show(list) + " names " + HostResources.format(missing) + ", not among this host's " + what
                    + " " + HostResources.format(available));
        }
    }
}
