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

    /**
     * Also used for UpdateContainerResources, which carries the same message. The ranges and this
     * host's cpusets and huge page sizes are checked at the CRI edge (LinuxResourcesValidator);
     * here a unified key is checked again where it becomes a file name.
     */
    public static void apply(LinuxContainerResources r, boolean cgroupV2, SpecDraft spec)
            throws InvalidContainerConfigException {
        if (r.getCpuShares() > 0 || r.getCpuQuota() != 0 || r.getCpuPeriod() > 0
                || !r.getCpusetCpus().isEmpty() || !r.getCpusetMems().isEmpty()) {
            spec.cpu = new Resources.Cpu(
                    r.getCpuShares() > 0 ? r.getCpuShares() : null,
                    r.getCpuQuota() != 0 ? r.getCpuQuota() : null,
                    r.getCpuPeriod() > 0 ? r.getCpuPeriod() : null,
                    r.getCpusetCpus().isEmpty() ? null : r.getCpusetCpus(),
                    r.getCpusetMems().isEmpty() ? null : r.getCpusetMems());
        }
        if (r.getMemoryLimitInBytes() > 0 || r.getMemorySwapLimitInBytes() > 0) {
            spec.memory = new Resources.Memory(
                    r.getMemoryLimitInBytes() > 0 ? r.getMemoryLimitInBytes() : null,
                    null,
                    r.getMemorySwapLimitInBytes() > 0 ? r.getMemorySwapLimitInBytes() : null);
        }
        spec.oomScoreAdj = (int) r.getOomScoreAdj();
        for (HugepageLimit h : r.getHugepageLimitsList()) {
            spec.hugepageLimits.add(new Resources.HugepageLimit(h.getPageSize(), h.getLimit()));
        }
        if (!r.getUnifiedMap().isEmpty() && cgroupV2) {
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
