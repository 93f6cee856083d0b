package io.coracle.runtime.spec;

import io.coracle.cri.v1.HugepageLimit;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.oci.Resources;

/** CPU, cpuset, memory, hugepage limits and oom_score_adj from the CRI resources; the cgroup path. */
public final class ResourceStep implements SpecStep {

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        spec.cgroupsPath = in.cgroupsPath();
        if (!in.config().getLinux().hasResources()) {
            return;
        }
        apply(in.config().getLinux().getResources(), in.cgroupV2(), spec);
    }

    /** Also used for UpdateContainerResources, which carries the same message. */
    public static void apply(LinuxContainerResources r, boolean cgroupV2, SpecDraft spec)
            throws InvalidContainerConfigException {
        if (r.getCpuShares() < 0 || r.getCpuQuota() < -1 || r.getCpuPeriod() < 0) {
            throw new InvalidContainerConfigException("resources: cpu_shares, cpu_quota and cpu_period must not be negative");
        }
        if (r.getCpuPeriod() > 0 && (r.getCpuPeriod() < 1000 || r.getCpuPeriod() > 1_000_000)) {
            throw new InvalidContainerConfigException("resources: cpu_period " + r.getCpuPeriod()
                    + " must be between 1000 and 1000000 microseconds");
        }
        if (r.getCpuShares() > 0 || r.getCpuQuota() != 0 || r.getCpuPeriod() > 0
                || !r.getCpusetCpus().isEmpty() || !r.getCpusetMems().isEmpty()) {
            spec.cpu = new Resources.Cpu(
                    r.getCpuShares() > 0 ? r.getCpuShares() : null,
                    r.getCpuQuota() != 0 ? r.getCpuQuota() : null,
                    r.getCpuPeriod() > 0 ? r.getCpuPeriod() : null,
                    r.getCpusetCpus().isEmpty() ? null : r.getCpusetCpus(),
                    r.getCpusetMems().isEmpty() ? null : r.getCpusetMems());
        }
        if (r.getMemoryLimitInBytes() < 0 || r.getMemorySwapLimitInBytes() < 0) {
            throw new InvalidContainerConfigException("resources: memory limits must not be negative");
        }
        if (r.getMemoryLimitInBytes() > 0 && r.getMemoryLimitInBytes() < 4096 * 2) {
            throw new InvalidContainerConfigException("resources: memory_limit_in_bytes " + r.getMemoryLimitInBytes()
                    + " is below the kernel's minimum");
        }
        if (r.getMemoryLimitInBytes() > 0 || r.getMemorySwapLimitInBytes() > 0) {
            spec.memory = new Resources.Memory(
                    r.getMemoryLimitInBytes() > 0 ? r.getMemoryLimitInBytes() : null,
                    null,
                    r.getMemorySwapLimitInBytes() > 0 ? r.getMemorySwapLimitInBytes() : null);
        }
        if (r.getOomScoreAdj() < -1000 || r.getOomScoreAdj() > 1000) {
            throw new InvalidContainerConfigException("resources: oom_score_adj " + r.getOomScoreAdj()
                    + " is outside -1000..1000");
        }
        spec.oomScoreAdj = (int) r.getOomScoreAdj();
        for (HugepageLimit h : r.getHugepageLimitsList()) {
            if (!h.getPageSize().matches("\\d+[KMG]B")) {
                throw new InvalidContainerConfigException("resources: hugepage page_size '" + h.getPageSize()
                        + "' is not like 2MB or 1GB");
            }
            spec.hugepageLimits.add(new Resources.HugepageLimit(h.getPageSize(), h.getLimit()));
        }
        if (!r.getUnifiedMap().isEmpty()) {
            if (!cgroupV2) {
                throw new InvalidContainerConfigException("resources: unified settings need cgroup v2; this node runs cgroup v1");
            }
            for (var file : r.getUnifiedMap().entrySet()) {
                if (file.getKey().isEmpty() || file.getKey().startsWith(".") || file.getKey().contains("/")
                        || !file.getKey().contains(".")) {
                    throw new InvalidContainerConfigException("resources: unified key '" + file.getKey()
                            + "' is not a cgroup v2 file name like memory.high");
                }
                spec.unified.put(file.getKey(), file.getValue());
            }
        }
    }
}
