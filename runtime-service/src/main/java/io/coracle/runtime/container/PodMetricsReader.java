package io.coracle.runtime.container;

import io.coracle.cri.v1.ContainerMetrics;
import io.coracle.cri.v1.ContainerStats;
import io.coracle.cri.v1.LinuxPodSandboxStats;
import io.coracle.cri.v1.Metric;
import io.coracle.cri.v1.MetricDescriptor;
import io.coracle.cri.v1.MetricType;
import io.coracle.cri.v1.NetworkInterfaceUsage;
import io.coracle.cri.v1.PodSandboxMetrics;
import io.coracle.cri.v1.PodSandboxStats;
import io.coracle.cri.v1.PodSandboxStatsFilter;
import java.util.ArrayList;
import java.util.List;

/**
 * ListMetricDescriptors and ListPodSandboxMetrics: the pod and container stats as cAdvisor-named
 * metrics, which the kubelet re-exports on /metrics/cadvisor when it takes stats from the runtime.
 * Counters of seconds are whole seconds, as the CRI's integer values allow.
 */
public final class PodMetricsReader {
    static final List<String> CONTAINER_LABELS = List.of("container", "pod", "namespace", "id");
    static final List<String> NETWORK_LABELS = List.of("pod", "namespace", "id", "interface");

    private record Descriptor(String name, String help, MetricType type, List<String> labels) {}

    private static final List<Descriptor> CONTAINER = List.of(
            new Descriptor("container_cpu_usage_seconds_total", "Cumulative CPU time consumed, in seconds.",
                    MetricType.COUNTER, CONTAINER_LABELS),
            new Descriptor("container_memory_usage_bytes", "Current memory usage, including page cache.",
                    MetricType.GAUGE, CONTAINER_LABELS),
            new Descriptor("container_memory_working_set_bytes", "Memory usage minus inactive page cache.",
                    MetricType.GAUGE, CONTAINER_LABELS),
            new Descriptor("container_fs_usage_bytes", "Bytes used by the container's writable layer.",
                    MetricType.GAUGE, CONTAINER_LABELS),
            new Descriptor("container_fs_inodes_total", "Inodes used by the container's writable layer.",
                    MetricType.GAUGE, CONTAINER_LABELS));

    private static final List<Descriptor> NETWORK = List.of(
            new Descriptor("container_network_receive_bytes_total", "Bytes received.", MetricType.COUNTER, NETWORK_LABELS),
            new Descriptor("container_network_receive_errors_total", "Errors while receiving.", MetricType.COUNTER, NETWORK_LABELS),
            new Descriptor("container_network_transmit_bytes_total", "Bytes sent.", MetricType.COUNTER, NETWORK_LABELS),
            new Descriptor("container_network_transmit_errors_total", "Errors while sending.", MetricType.COUNTER, NETWORK_LABELS));

    private final PodStatsReader pods;

    public PodMetricsReader(PodStatsReader pods) {
        this.pods = pods;
    }

    public List<MetricDescriptor> descriptors() {
        List<MetricDescriptor> out = new ArrayList<>();
        for (Descriptor d : concat(CONTAINER, NETWORK)) {
            out.add(MetricDescriptor.newBuilder().setName(d.name()).setHelp(d.help()).addAllLabelKeys(d.labels()).build());
        }
        return out;
    }

    public List<PodSandboxMetrics> metrics() {
        long now = System.currentTimeMillis() * 1_000_000L;
        List<PodSandboxMetrics> out = new ArrayList<>();
        for (PodSandboxStats pod : pods.list(PodSandboxStatsFilter.getDefaultInstance())) {
            String name = pod.getAttributes().getMetadata().getName();
            String namespace = pod.getAttributes().getMetadata().getNamespace();
            PodSandboxMetrics.Builder pm = PodSandboxMetrics.newBuilder().setPodSandboxId(pod.getAttributes().getId());
            LinuxPodSandboxStats linux = pod.getLinux();
            for (NetworkInterfaceUsage nic : linux.getNetwork().getInterfacesList()) {
                List<String> labels = List.of(name, namespace, pod.getAttributes().getId(), nic.getName());
                pm.addMetrics(metric(NETWORK.get(0), labels, nic.getRxBytes().getValue(), now));
                pm.addMetrics(metric(NETWORK.get(1), labels, nic.getRxErrors().getValue(), now));
                pm.addMetrics(metric(NETWORK.get(2), labels, nic.getTxBytes().getValue(), now));
                pm.addMetrics(metric(NETWORK.get(3), labels, nic.getTxErrors().getValue(), now));
            }
            for (ContainerStats c : linux.getContainersList()) {
                List<String> labels = List.of(c.getAttributes().getMetadata().getName(), name, namespace,
                        c.getAttributes().getId());
                pm.addContainerMetrics(ContainerMetrics.newBuilder().setContainerId(c.getAttributes().getId())
                        .addMetrics(metric(CONTAINER.get(0), labels,
                                c.getCpu().getUsageCoreNanoSeconds().getValue() / 1_000_000_000L, now))
                        .addMetrics(metric(CONTAINER.get(1), labels, c.getMemory().getUsageBytes().getValue(), now))
                        .addMetrics(metric(CONTAINER.get(2), labels, c.getMemory().getWorkingSetBytes().getValue(), now))
                        .addMetrics(metric(CONTAINER.get(3), labels, c.getWritableLayer().getUsedBytes().getValue(), now))
                        .addMetrics(metric(CONTAINER.get(4), labels, c.getWritableLayer().getInodesUsed().getValue(), now)));
            }
            out.add(pm.build());
        }
        return out;
    }

    private static Metric metric(Descriptor d, List<String> labels, long value, long now) {
        return Metric.newBuilder().setName(d.name()).setTimestamp(now).setMetricType(d.type())
                .addAllLabelValues(labels).setValue(ContainerStatsReader.u64(value)).build();
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }
}
