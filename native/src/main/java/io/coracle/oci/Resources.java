package io.coracle.oci;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/** The spec's {@code linux.resources}. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Resources(Memory memory, Cpu cpu, Pids pids, List<HugepageLimit> hugepageLimits,
                        List<DeviceRule> devices, java.util.Map<String, String> unified) {
    /** Without cgroup v2 files of the {@code unified} map. */
    public Resources(Memory memory, Cpu cpu, Pids pids, List<HugepageLimit> hugepageLimits, List<DeviceRule> devices) {
        this(memory, cpu, pids, hugepageLimits, devices, null);
    }

    /** limit and swap (memory+swap, as in cgroup v1) in bytes; -1 is unlimited. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Memory(Long limit, Long reservation, Long swap) {}

    /** shares (v1 weight), quota and period in microseconds, cpus and mems as cpuset lists. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Cpu(Long shares, Long quota, Long period, String cpus, String mems) {}

    public record Pids(long limit) {}

    public record HugepageLimit(String pageSize, long limit) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record DeviceRule(boolean allow, String type, Long major, Long minor, String access) {}
}
