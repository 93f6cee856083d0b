package io.coracle.runtime.metrics;

import io.coracle.cri.v1.Container;
import io.coracle.cri.v1.ContainerFilter;
import io.coracle.cri.v1.ContainerState;
import io.coracle.runtime.container.ContainerRecord;
import io.coracle.runtime.container.ContainerStatusReader;
import io.coracle.runtime.container.ContainerStore;
import io.coracle.sandbox.Sandbox;
import io.coracle.sandbox.SandboxStore;
import io.coracle.shim.ShimClient;
import io.coracle.sys.Syscalls;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Pods and containers by state and live shims, counted once per scrape by {@link #refresh()}:
 * {@code coracle_pods{state}}, {@code coracle_containers{state}}, {@code coracle_shims}.
 */
public final class RuntimeStateMetrics {
    private final SandboxStore sandboxes;
    private final ContainerStatusReader containerStatus;
    private final ContainerStore containerStore;
    private final Map<Sandbox.State, AtomicLong> pods = new EnumMap<>(Sandbox.State.class);
    private final Map<ContainerState, AtomicLong> containers = new EnumMap<>(ContainerState.class);
    private final AtomicLong shims = new AtomicLong();

    public RuntimeStateMetrics(MeterRegistry registry, SandboxStore sandboxes, ContainerStatusReader containerStatus,
                               ContainerStore containerStore) {
        this.sandboxes = sandboxes;
        this.containerStatus = containerStatus;
        this.containerStore = containerStore;
        for (Sandbox.State s : Sandbox.State.values()) {
            AtomicLong n = new AtomicLong();
            pods.put(s, n);
            Gauge.builder("coracle.pods", n, AtomicLong::get).description("Pod sandboxes by state")
                    .tag("state", s.name().toLowerCase(java.util.Locale.ROOT)).register(registry);
        }
        for (ContainerState s : ContainerState.values()) {
            if (s == ContainerState.UNRECOGNIZED) {
                continue;
            }
            AtomicLong n = new AtomicLong();
            containers.put(s, n);
            Gauge.builder("coracle.containers", n, AtomicLong::get).description("Containers by state")
                    .tag("state", s.name().substring("CONTAINER_".length()).toLowerCase(java.util.Locale.ROOT))
                    .register(registry);
        }
        Gauge.builder("coracle.shims", shims, AtomicLong::get)
                .description("Containers whose shim process is alive").register(registry);
    }

    /** Counts pods, containers and shims now. */
    public void refresh() {
        Map<Sandbox.State, Long> podCounts = new EnumMap<>(Sandbox.State.class);
        for (Sandbox s : sandboxes.all()) {
            podCounts.merge(s.state(), 1L, Long::sum);
        }
        pods.forEach((state, n) -> n.set(podCounts.getOrDefault(state, 0L)));

        Map<ContainerState, Long> containerCounts = new EnumMap<>(ContainerState.class);
        for (Container c : containerStatus.list(ContainerFilter.getDefaultInstance())) {
            containerCounts.merge(c.getState(), 1L, Long::sum);
        }
        containers.forEach((state, n) -> n.set(containerCounts.getOrDefault(state, 0L)));

        long alive = 0;
        for (ContainerRecord r : containerStore.list()) {
            if (shimAlive(r)) {
                alive++;
            }
        }
        shims.set(alive);
    }

    private static boolean shimAlive(ContainerRecord r) {
        try {
            int pid = new ShimClient(r.stateDir()).stateFile().shimPid();
            return pid > 0 && Syscalls.alive(pid);
        } catch (IOException | RuntimeException e) {
            return false; // no state file: never started, or already cleaned up
        }
    }
}
