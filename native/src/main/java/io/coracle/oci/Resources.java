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

    /**
     * One cgroup device rule: type a (all, also when null), b or c; major and minor 0..2^32-1, or
     * null or -1 for any; access a non-empty combination of r, w and m (null: rwm). The last rule
     * that matches a device and an access bit decides it; what no rule allows is denied.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record DeviceRule(boolean allow, String type, Long major, Long minor, String access) {
        public static final long MAX_NUMBER = 0xffff_ffffL;

        public DeviceRule {
            if (type != null && !type.matches("[abc]")) {
                throw new IllegalArgumentException("device rule type '" + type + "' is not a, b or c");
            }
            checkNumber("major", major);
            checkNumber("minor", minor);
            if (access != null && (access.isEmpty() || !access.matches("[rwm]{1,3}")
                    || access.chars().distinct().count() != access.length())) {
                throw new IllegalArgumentException("device rule access '" + access + "' is not a combination of r, w and m");
            }
        }

        private static void checkNumber(String field, Long n) {
            if (n != null && n != -1 && (n < 0 || n > MAX_NUMBER)) {
                throw new IllegalArgumentException("device rule " + field + " " + n
                        + " is not a device number (0..4294967295, or -1 for any)");
            }
        }
    }
}
