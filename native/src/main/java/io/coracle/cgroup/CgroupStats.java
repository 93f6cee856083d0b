package io.coracle.cgroup;

/** Usage of one cgroup: memory in bytes (working set is usage minus inactive file cache), CPU in nanoseconds. */
public record CgroupStats(long memoryUsageBytes, long memoryWorkingSetBytes, long cpuUsageNanos, long pids,
                          long oomKills) {}
