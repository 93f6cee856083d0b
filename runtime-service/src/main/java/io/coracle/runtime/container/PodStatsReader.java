package io.coracle.runtime.container;

import io.coracle.cri.CriError;
import io.coracle.cgroup.CgroupStats;
import io.coracle.cgroup.Cgroups;
import io.coracle.cri.v1.LinuxPodSandboxStats;
import io.coracle.cri.v1.MemoryUsage;
import io.coracle.cri.v1.NetworkInterfaceUsage;
import io.coracle.cri.v1.NetworkUsage;
import io.coracle.cri.v1.PodSandboxAttributes;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxStats;
import io.coracle.cri.v1.PodSandboxStatsFilter;
import io.coracle.cri.v1.ProcessUsage;
import io.coracle.sandbox.Sandbox;
import io.coracle.sandbox.SandboxStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * PodSandboxStats and ListPodSandboxStats: the pod cgroup's CPU, memory and process count, the
 * interface counters of the pod's network namespace (as its pause process sees them), and the stats
 * of its running containers.
 */
public final class PodStatsReader {
    private final SandboxStore sandboxes;
    private final Cgroups cgroups;
    private final ContainerStatsReader containers;

    public PodStatsReader(SandboxStore sandboxes, Cgroups cgroups, ContainerStatsReader containers) {
        this.sandboxes = sandboxes;
        this.cgroups = cgroups;
        this.containers = containers;
    }

    public PodSandboxStats stats(String podId) {
        if (podId.isEmpty()) {
            throw new CriError(CriError.Kind.INVALID, "pod_sandbox_id is empty");
        }
        Sandbox s = sandboxes.find(podId).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND, "pod sandbox " + podId + " not found"));
        return stats(s);
    }

    public List<PodSandboxStats> list(PodSandboxStatsFilter filter) {
        List<PodSandboxStats> out = new ArrayList<>();
        for (Sandbox s : sandboxes.all()) {
            if (!s.ready() || !filter.getId().isEmpty() && !s.id().startsWith(filter.getId())) {
                continue;
            }
            if (!s.podConfig().getLabelsMap().entrySet().containsAll(filter.getLabelSelectorMap().entrySet())) {
                continue;
            }
            out.add(stats(s));
        }
        return out;
    }

    private PodSandboxStats stats(Sandbox s) {
        PodSandboxConfig config = s.podConfig();
        long now = System.currentTimeMillis() * 1_000_000L;
        LinuxPodSandboxStats.Builder linux = LinuxPodSandboxStats.newBuilder()
                .addAllContainers(containers.ofPod(s.id()));
        if (cgroups.exists(s.cgroupParent())) {
            try {
                CgroupStats cg = cgroups.stats(s.cgroupParent());
                linux.setCpu(containers.cpu("pod:" + s.id(), cg.cpuUsageNanos(), now))
                        .setMemory(MemoryUsage.newBuilder().setTimestamp(now)
                                .setWorkingSetBytes(ContainerStatsReader.u64(cg.memoryWorkingSetBytes()))
                                .setUsageBytes(ContainerStatsReader.u64(cg.memoryUsageBytes())))
                        .setProcess(ProcessUsage.newBuilder().setTimestamp(now)
                                .setProcessCount(ContainerStatsReader.u64(cg.pids())));
            } catch (IOException e) {
                // the pod is being torn down
            }
        }
        if (!s.hostNetwork() && s.ready()) {
            network(s.pausePid(), now, linux);
        }
        return PodSandboxStats.newBuilder()
                .setAttributes(PodSandboxAttributes.newBuilder().setId(s.id()).setMetadata(config.getMetadata())
                        .putAllLabels(config.getLabelsMap()).putAllAnnotations(config.getAnnotationsMap()))
                .setLinux(linux)
                .build();
    }

    /** Interface counters from /proc/PID/net/dev, which shows the namespace of PID; eth0 is the default. */
    static void network(int pid, long now, LinuxPodSandboxStats.Builder linux) {
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of("/proc", String.valueOf(pid), "net", "dev"));
        } catch (IOException e) {
            return;
        }
        NetworkUsage.Builder net = NetworkUsage.newBuilder().setTimestamp(now);
        for (String line : lines.subList(Math.min(2, lines.size()), lines.size())) {
            int colon = line.indexOf(':');
            String name = line.substring(0, colon).trim();
            String[] f = line.substring(colon + 1).trim().split("\\s+");
            if (name.equals("lo") || f.length < 11) {
                continue;
            }
            NetworkInterfaceUsage usage = NetworkInterfaceUsage.newBuilder().setName(name)
                    .setRxBytes(ContainerStatsReader.u64(Long.parseLong(f[0])))
                    .setRxErrors(ContainerStatsReader.u64(Long.parseLong(f[2])))
                    .setTxBytes(ContainerStatsReader.u64(Long.parseLong(f[8])))
                    .setTxErrors(ContainerStatsReader.u64(Long.parseLong(f[10])))
                    .build();
            if (name.equals("eth0")) {
                net.setDefaultInterface(usage);
            }
            net.addInterfaces(usage);
        }
        linux.setNetwork(net);
    }
}
