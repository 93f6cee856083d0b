package io.coracle.runtime.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.testing.CriTestbed;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Prints the median and p90 of RunPodSandbox, StopPodSandbox, RemovePodSandbox, CreateContainer,
 * StartContainer, StopContainer and RemoveContainer over N pods with one busybox container each,
 * then the total RSS (daemon + shims + pause processes) with 10 running pods.
 * Run: {@code ./coracle bench containers [N]}.
 */
public final class ContainerBenchmark {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 50;
        Map<String, List<Double>> times = new LinkedHashMap<>();
        for (String op : List.of("RunPodSandbox", "CreateContainer", "StartContainer", "StopContainer",
                "RemoveContainer", "StopPodSandbox", "RemovePodSandbox")) {
            times.put(op, new ArrayList<>());
        }
        try (CriTestbed bed = CriTestbed.start()) {
            var rt = bed.runtime();
            for (int i = 0; i < n + 5; i++) {
                boolean warmup = i < 5;
                PodSandboxConfig pod = bed.pod("bench" + i).build();
                long t = System.nanoTime();
                String podId = rt.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build()).getPodSandboxId();
                record(times, "RunPodSandbox", t, warmup);
                t = System.nanoTime();
                String id = rt.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                        .setConfig(CriTestbed.container("c", "sleep", "300")).setSandboxConfig(pod).build()).getContainerId();
                record(times, "CreateContainer", t, warmup);
                t = System.nanoTime();
                rt.startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                record(times, "StartContainer", t, warmup);
                t = System.nanoTime();
                rt.stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(10).build());
                record(times, "StopContainer", t, warmup);
                t = System.nanoTime();
                rt.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
                record(times, "RemoveContainer", t, warmup);
                t = System.nanoTime();
                rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
                record(times, "StopPodSandbox", t, warmup);
                t = System.nanoTime();
                rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
                record(times, "RemovePodSandbox", t, warmup);
            }
            System.out.printf("%d pods, one busybox `sleep` container each (after 5 warm-up rounds)%n", n);
            System.out.printf("%-18s %9s %9s%n", "operation", "p50 ms", "p90 ms");
            times.forEach((op, list) -> System.out.printf("%-18s %9.1f %9.1f%n", op, pct(list, 50), pct(list, 90)));

            // Memory with 10 running pods.
            List<String> pods = new ArrayList<>();
            List<Integer> pids = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                PodSandboxConfig pod = bed.pod("mem" + i).build();
                String podId = bed.runPod(pod);
                pods.add(podId);
                String id = bed.createAndStart(podId, pod, CriTestbed.container("c", "sleep", "300"));
                pids.add(JSON.readTree(rt.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId)
                        .setVerbose(true).build()).getInfoMap().get("info")).path("pid").asInt());
                pids.add(JSON.readTree(rt.containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id)
                        .setVerbose(true).build()).getInfoMap().get("info")).path("shimPid").asInt());
            }
            Thread.sleep(2000);
            long daemon = rssKiB(bed.daemon.process().pid());
            long pause = 0;
            long shims = 0;
            for (int i = 0; i < pids.size(); i++) {
                if (i % 2 == 0) {
                    pause += rssKiB(pids.get(i));
                } else {
                    shims += rssKiB(pids.get(i));
                }
            }
            System.out.printf("RSS with 10 pods: daemon %.1f MiB, 10 shims %.2f MiB, 10 pause %.2f MiB, total %.1f MiB"
                            + " (%.2f MiB per pod beyond the daemon)%n",
                    daemon / 1024.0, shims / 1024.0, pause / 1024.0, (daemon + shims + pause) / 1024.0,
                    (shims + pause) / 10 / 1024.0);
            // -Dbench.hold=SECONDS keeps the 10 pods up, e.g. to look at the daemon with jcmd.
            Thread.sleep(Long.getLong("bench.hold", 0) * 1000);
            for (String podId : pods) {
                bed.removePod(podId);
            }
        }
    }

    private static void record(Map<String, List<Double>> times, String op, long start, boolean warmup) {
        if (!warmup) {
            times.get(op).add((System.nanoTime() - start) / 1e6);
        }
    }

    static double pct(List<Double> values, int p) {
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1));
    }

    static long rssKiB(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return 0;
    }
}
