package io.coracle.runtime.container;

import io.coracle.cgroup.Cgroups;
import io.coracle.cri.CriError;
import io.coracle.cgroup.CgroupStats;
import io.coracle.cri.v1.ContainerAttributes;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStats;
import io.coracle.cri.v1.ContainerStatsFilter;
import io.coracle.cri.v1.CpuUsage;
import io.coracle.cri.v1.FilesystemIdentifier;
import io.coracle.cri.v1.FilesystemUsage;
import io.coracle.cri.v1.MemoryUsage;
import io.coracle.cri.v1.UInt64Value;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * ContainerStats and ListContainerStats: CPU and memory from the container's cgroup, the writable
 * layer's bytes and inodes from its upper directory. CPU nano-cores is the rate since the previous sample.
 */
public final class ContainerStatsReader {
    private record CpuSample(long timestampNanos, long usageNanos) {}

    private final ContainerStore store;
    private final Cgroups cgroups;
    private final Map<String, CpuSample> lastCpu = new ConcurrentHashMap<>();

    public ContainerStatsReader(ContainerStore store, Cgroups cgroups) {
        this.store = store;
        this.cgroups = cgroups;
    }

    public ContainerStats stats(String containerId) {
        ContainerRecord r = store.find(containerId).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND, "container " + containerId + " not found"));
        return stats(r);
    }

    public List<ContainerStats> list(ContainerStatsFilter filter) {
        List<ContainerStats> out = new ArrayList<>();
        for (ContainerRecord r : store.list()) {
            if (!filter.getId().isEmpty() && !r.id().startsWith(filter.getId())
                    || !filter.getPodSandboxId().isEmpty() && !r.podId().startsWith(filter.getPodSandboxId())
                    || !r.containerConfig().getLabelsMap().entrySet().containsAll(filter.getLabelSelectorMap().entrySet())) {
                continue;
            }
            if (ContainerStates.of(r, store).state() != ContainerState.CONTAINER_RUNNING) {
                continue; // the kubelet asks stats of running containers
            }
            out.add(stats(r));
        }
        return out;
    }

    /** Stats of every running container of a pod. */
    List<ContainerStats> ofPod(String podId) {
        List<ContainerStats> out = new ArrayList<>();
        for (ContainerRecord r : store.list()) {
            if (r.podId().equals(podId) && ContainerStates.of(r, store).state() == ContainerState.CONTAINER_RUNNING) {
                out.add(stats(r));
            }
        }
        return out;
    }

    /** CPU usage with the rate since the last sample of the same key (a container or pod ID). */
    CpuUsage cpu(String key, long usageNanos, long now) {
        CpuUsage.Builder cpu = CpuUsage.newBuilder().setTimestamp(now).setUsageCoreNanoSeconds(u64(usageNanos));
        CpuSample previous = lastCpu.put(key, new CpuSample(now, usageNanos));
        if (previous != null && now > previous.timestampNanos()) {
            long rate = (usageNanos - previous.usageNanos()) * 1_000_000_000L / (now - previous.timestampNanos());
            cpu.setUsageNanoCores(u64(Math.max(0, rate)));
        }
        return cpu.build();
    }

    private ContainerStats stats(ContainerRecord r) {
        ContainerConfig c = r.containerConfig();
        long now = System.currentTimeMillis() * 1_000_000L;
        ContainerStats.Builder b = ContainerStats.newBuilder().setAttributes(ContainerAttributes.newBuilder()
                .setId(r.id()).setMetadata(c.getMetadata()).putAllLabels(c.getLabelsMap())
                .putAllAnnotations(c.getAnnotationsMap()));
        if (cgroups.exists(r.cgroupPath())) {
            try {
                CgroupStats cg = cgroups.stats(r.cgroupPath());
                b.setCpu(cpu(r.id(), cg.cpuUsageNanos(), now)).setMemory(MemoryUsage.newBuilder().setTimestamp(now)
                        .setWorkingSetBytes(u64(cg.memoryWorkingSetBytes()))
                        .setUsageBytes(u64(cg.memoryUsageBytes())));
            } catch (IOException e) {
                // The container exited and its cgroup went away between the check and the read.
            }
        }
        Path upper = store.containerDir(r.id()).resolve("upper");
        long[] usage = diskUsage(upper);
        b.setWritableLayer(FilesystemUsage.newBuilder().setTimestamp(now)
                .setFsId(FilesystemIdentifier.newBuilder().setMountpoint(upper.toString()))
                .setUsedBytes(u64(usage[0])).setInodesUsed(u64(usage[1])));
        return b.build();
    }

    /** Bytes (allocated blocks) and inodes under a directory, not following links. */
    static long[] diskUsage(Path dir) {
        long[] total = new long[2];
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return total;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.forEach(p -> {
                try {
                    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    total[0] += a.isDirectory() ? 0 : a.size();
                    total[1]++;
                } catch (IOException e) {
                    // removed while walking
                }
            });
        } catch (IOException | UncheckedIOException e) {
            // the container is being removed
        }
        return total;
    }

    static UInt64Value u64(long v) {
        return UInt64Value.newBuilder().setValue(v).build();
    }

    void forget(String containerId) {
        lastCpu.remove(containerId);
    }
}
