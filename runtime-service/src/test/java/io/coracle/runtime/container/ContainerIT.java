package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.Capability;
import io.coracle.cri.v1.ContainerEventResponse;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatsRequest;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.GetEventsRequest;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.Int64Value;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxStats;
import io.coracle.cri.v1.PodSandboxStatsRequest;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.DaemonProcess;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Containers through the real daemon: real images from a local registry, the real shim and kernel. */
class ContainerIT {
    static CriTestbed bed;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    private static ExecSyncResponse exec(String id, long timeout, String... cmd) {
        return bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd))
                .setTimeout(timeout).build());
    }

    private static String stdout(ExecSyncResponse r) {
        return r.getStdout().toString(StandardCharsets.UTF_8);
    }

    @Test
    void twoContainersOfAPodShareLocalhost() throws Exception {
        PodSandboxConfig pod = bed.pod("share").build();
        String podId = bed.runPod(pod);
        try {
            bed.createAndStart(podId, pod, container("server", "sh", "-c",
                    "echo served-by-server > /tmp/index.html; exec httpd -f -p 127.0.0.1:8080 -h /tmp"));
            String client = bed.createAndStart(podId, pod, container("client", "sleep", "300"));
            String body = "";
            for (int i = 0; i < 100 && !body.contains("served-by-server"); i++) {
                body = stdout(exec(client, 10, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/index.html"));
                Thread.sleep(50);
            }
            assertEquals("served-by-server\n", body);
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void logFileHasCriFormatWithStreamsAndSplitLongLines() throws Exception {
        PodSandboxConfig pod = bed.pod("logs").build();
        String podId = bed.runPod(pod);
        try {
            // 20000 characters: one line over the 16 KiB limit, split into a P and an F record.
            String id = bed.createAndStart(podId, pod, container("echo", "sh", "-c",
                    "echo out-line; echo err-line >&2; printf '%020000d\\n' 7"));
            ContainerStatus s = bed.awaitStatus(id, x -> x.getState() == ContainerState.CONTAINER_EXITED,
                    Duration.ofSeconds(20));
            assertEquals(0, s.getExitCode());
            assertEquals("Completed", s.getReason());
            List<String> lines = Files.readAllLines(Path.of(s.getLogPath()));
            String ts = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z";
            assertTrue(lines.get(0).matches(ts + " stdout F out-line"), lines.get(0));
            assertTrue(lines.stream().anyMatch(l -> l.matches(ts + " stderr F err-line")), lines.toString());
            List<String> big = lines.stream().filter(l -> l.contains("0000000")).toList();
            assertEquals(2, big.size(), "the long line is split in two records");
            assertTrue(big.get(0).matches(ts + " stdout P 0+"), big.get(0).substring(0, 60));
            assertTrue(big.get(1).matches(ts + " stdout F 0*7"));
            int content = big.get(0).split(" ", 4)[3].length() + big.get(1).split(" ", 4)[3].length();
            assertEquals(20000, content);
            assertEquals(16 * 1024, big.get(0).split(" ", 4)[3].length());
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void exitCodesAndReasons() throws Exception {
        PodSandboxConfig pod = bed.pod("exits").build();
        String podId = bed.runPod(pod);
        try {
            String failing = bed.createAndStart(podId, pod, container("fail", "sh", "-c", "exit 3"));
            ContainerStatus s = bed.awaitStatus(failing, x -> x.getState() == ContainerState.CONTAINER_EXITED,
                    Duration.ofSeconds(20));
            assertEquals(3, s.getExitCode());
            assertEquals("Error", s.getReason());
            assertTrue(s.getFinishedAt() >= s.getStartedAt() && s.getStartedAt() >= s.getCreatedAt());

            String oom = bed.createAndStart(podId, pod, container("oom", "sh", "-c",
                    "x=a; while true; do x=$x$x$x$x; done").setLinux(LinuxContainerConfig.newBuilder()
                    .setResources(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(32L << 20))));
            s = bed.awaitStatus(oom, x -> x.getState() == ContainerState.CONTAINER_EXITED, Duration.ofSeconds(60));
            assertEquals("OOMKilled", s.getReason());
            assertEquals(137, s.getExitCode());
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void stopHonorsTimeoutAndImageStopSignal() throws Exception {
        PodSandboxConfig pod = bed.pod("stops").build();
        String podId = bed.runPod(pod);
        try {
            String stubborn = bed.createAndStart(podId, pod, container("stubborn", "sh", "-c",
                    "trap '' TERM; echo ready; while true; do sleep 1; done"));
            bed.awaitStatus(stubborn, x -> x.getState() == ContainerState.CONTAINER_RUNNING, Duration.ofSeconds(10));
            Thread.sleep(300); // let the trap be installed
            long start = System.nanoTime();
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(stubborn).setTimeout(2).build());
            long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(took >= 1900 && took < 8000, "stop took " + took + " ms");
            ContainerStatus s = bed.status(stubborn);
            assertEquals(ContainerState.CONTAINER_EXITED, s.getState());
            assertEquals(137, s.getExitCode());
            // Stopping a stopped container is fine.
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(stubborn).setTimeout(2).build());

            // The image says SIGUSR1: a shell that exits 42 on it stops within the grace period.
            String polite = bed.createAndStart(podId, pod, container("polite", "sh", "-c",
                    "trap 'exit 42' USR1; while true; do sleep 0.1; done")
                    .setImage(ImageSpec.newBuilder().setImage(CriTestbed.BUSYBOX_APP))
                    .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext
                            .newBuilder().setRunAsUser(Int64Value.newBuilder().setValue(0)))));
            Thread.sleep(300);
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(polite).setTimeout(10).build());
            assertEquals(42, bed.status(polite).getExitCode());
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void execSyncOutputExitCodeAndTimeout() throws Exception {
        PodSandboxConfig pod = bed.pod("exec").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("sleeper", "sleep", "300"));
            ExecSyncResponse r = exec(id, 10, "sh", "-c", "echo to-out; echo to-err >&2; exit 7");
            assertEquals("to-out\n", stdout(r));
            assertEquals("to-err\n", r.getStderr().toString(StandardCharsets.UTF_8));
            assertEquals(7, r.getExitCode());

            long start = System.nanoTime();
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> exec(id, 1, "sleep", "30"));
            assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
            assertTrue(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start) < 10);
            // The timed-out command is gone: only PID 1 (pause) and the sleeper's sleep remain besides ps.
            String ps = stdout(exec(id, 10, "ps", "-o", "comm"));
            assertFalse(ps.lines().filter(l -> l.trim().equals("sleep")).count() > 1, ps);

            e = assertThrows(StatusRuntimeException.class, () -> exec(id, 10, "/no/such/command"));
            assertNotEquals(Status.Code.OK, e.getStatus().getCode());
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void execSyncOutputOfBothStreamsFitsTheKubeletsMessageLimit() throws Exception {
        PodSandboxConfig pod = bed.pod("exec-flood").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("sleeper", "sleep", "300"));
            // 20 MiB on each stream at once: the client (16 MiB limit, as the kubelet's) gets an answer.
            ExecSyncResponse r = exec(id, 60, "sh", "-c",
                    "head -c 20971520 /dev/zero | tr '\\0' o & head -c 20971520 /dev/zero | tr '\\0' e >&2; wait; exit 5");
            assertEquals(5, r.getExitCode());
            int limit = ExecSyncRunner.OUTPUT_LIMIT;
            assertTrue(r.getSerializedSize() < 16 * 1024 * 1024, "response of " + r.getSerializedSize() + " bytes");
            assertEquals(limit, r.getStdout().size() + r.getStderr().size());
            assertEquals(limit / 2, r.getStdout().size(), "each stream keeps half when both overflow");
            assertTrue(r.getStdout().toString(StandardCharsets.UTF_8).chars().allMatch(c -> c == 'o'));
            assertTrue(r.getStderr().toString(StandardCharsets.UTF_8).chars().allMatch(c -> c == 'e'));

            // A small stderr is kept whole next to a flood on stdout; the container still answers after.
            r = exec(id, 60, "sh", "-c", "echo oops >&2; head -c 20971520 /dev/zero");
            assertEquals(0, r.getExitCode());
            assertEquals("oops\n", r.getStderr().toString(StandardCharsets.UTF_8));
            assertEquals(limit - 5, r.getStdout().size());
            assertEquals("alive\n", stdout(exec(id, 10, "echo", "alive")));
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void securityContextHoldsInsideTheContainer() throws Exception {
        PodSandboxConfig pod = bed.pod("secure").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("locked", "sleep", "300")
                    .setImage(ImageSpec.newBuilder().setImage(CriTestbed.BUSYBOX_APP))
                    .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext
                            .newBuilder().setReadonlyRootfs(true).addSupplementalGroups(777)
                            .setCapabilities(Capability.newBuilder().addDropCapabilities("ALL")))));
            // The kernel keeps supplementary groups sorted.
            assertEquals("uid=1000(app) gid=1000(app) groups=777,1000(app),1234(extra)\n",
                    stdout(exec(id, 10, "id")));
            ExecSyncResponse write = exec(id, 10, "touch", "/newfile");
            assertNotEquals(0, write.getExitCode());
            assertTrue(write.getStderr().toStringUtf8().contains("Read-only file system"), write.getStderr().toStringUtf8());
            assertEquals("CapEff:\t0000000000000000\n", stdout(exec(id, 10, "grep", "CapEff", "/proc/self/status")));
            assertEquals("", stdout(exec(id, 10, "cat", "/proc/kcore")));
            assertEquals(1000, bed.status(id).getUser().getLinux().getUid());
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void hostPathMountIsVisibleAndReadOnlyHolds() throws Exception {
        Path host = Files.createTempDirectory("coracle-hostpath-");
        Files.writeString(host.resolve("greeting"), "hello from the host\n");
        PodSandboxConfig pod = bed.pod("mounts").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("reader", "sleep", "300")
                    .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(host.toString()))
                    .addMounts(Mount.newBuilder().setContainerPath("/ro").setHostPath(host.toString()).setReadonly(true)));
            assertEquals("hello from the host\n", stdout(exec(id, 10, "cat", "/data/greeting")));
            assertEquals(0, exec(id, 10, "sh", "-c", "echo written > /data/out").getExitCode());
            assertEquals("written\n", Files.readString(host.resolve("out")));
            assertNotEquals(0, exec(id, 10, "sh", "-c", "echo no > /ro/denied").getExitCode());
            assertFalse(Files.exists(host.resolve("denied")));

            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod,
                    container("bad", "true").addMounts(Mount.newBuilder().setContainerPath("/x")
                            .setHostPath("/nonexistent/coracle-test"))));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("/nonexistent/coracle-test"));
        } finally {
            bed.removePod(podId);
            for (String f : List.of("greeting", "out")) {
                Files.deleteIfExists(host.resolve(f));
            }
            Files.delete(host);
        }
    }

    @Test
    void mountPropagationFromTheHostReachesAnRslaveVolume() throws Exception {
        Path source = Files.createTempDirectory("coracle-propagation-");
        io.coracle.sys.Mounts.bind(source, source);
        Path later = Files.createDirectory(source.resolve("later"));
        PodSandboxConfig pod = bed.pod("propagation").build();
        String podId = bed.runPod(pod);
        try {
            new ProcessBuilder("mount", "--make-rshared", source.toString()).start().waitFor();
            String slave = bed.createAndStart(podId, pod, container("slave", "sleep", "300")
                    .addMounts(Mount.newBuilder().setContainerPath("/vol").setHostPath(source.toString())
                            .setPropagation(io.coracle.cri.v1.MountPropagation.PROPAGATION_HOST_TO_CONTAINER)));
            String priv = bed.createAndStart(podId, pod, container("private", "sleep", "300")
                    .addMounts(Mount.newBuilder().setContainerPath("/vol").setHostPath(source.toString())));
            // A mount made on the host after the containers started.
            io.coracle.sys.Mounts.tmpfs(later, 1 << 20);
            Files.writeString(later.resolve("seen"), "propagated\n");
            assertEquals("propagated\n", stdout(exec(slave, 10, "cat", "/vol/later/seen")));
            assertNotEquals(0, exec(priv, 10, "cat", "/vol/later/seen").getExitCode());
        } finally {
            bed.removePod(podId);
            io.coracle.sys.Mounts.unmountAll(later);
            io.coracle.sys.Mounts.unmountAll(source);
            DaemonProcess.deleteTree(source);
        }
    }

    @Test
    void statsGrowForABusyContainerAndResourcesUpdateTheCgroup() throws Exception {
        PodSandboxConfig pod = bed.pod("stats").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("busy", "sh", "-c", "while true; do :; done"));
            long first = bed.runtime().containerStats(ContainerStatsRequest.newBuilder().setContainerId(id).build())
                    .getStats().getCpu().getUsageCoreNanoSeconds().getValue();
            Thread.sleep(500);
            long second = bed.runtime().containerStats(ContainerStatsRequest.newBuilder().setContainerId(id).build())
                    .getStats().getCpu().getUsageCoreNanoSeconds().getValue();
            assertTrue(second > first + 100_000_000L, "cpu " + first + " -> " + second);

            PodSandboxStats podStats = bed.runtime().podSandboxStats(PodSandboxStatsRequest.newBuilder()
                    .setPodSandboxId(podId).build()).getStats();
            assertEquals(List.of(id), podStats.getLinux().getContainersList().stream()
                    .map(c -> c.getAttributes().getId()).toList());
            assertTrue(podStats.getLinux().getCpu().getUsageCoreNanoSeconds().getValue() >= second);
            assertTrue(podStats.getLinux().getProcess().getProcessCount().getValue() >= 2, podStats.toString());
            assertEquals("eth0", podStats.getLinux().getNetwork().getDefaultInterface().getName());

            var descriptors = bed.runtime().listMetricDescriptors(
                    io.coracle.cri.v1.ListMetricDescriptorsRequest.getDefaultInstance()).getDescriptorsList();
            assertTrue(descriptors.stream().anyMatch(d -> d.getName().equals("container_cpu_usage_seconds_total")
                    && d.getLabelKeysList().equals(List.of("container", "pod", "namespace", "id"))));
            var podMetrics = bed.runtime().listPodSandboxMetrics(io.coracle.cri.v1.ListPodSandboxMetricsRequest
                    .getDefaultInstance()).getPodMetricsList().stream().filter(m -> m.getPodSandboxId().equals(podId))
                    .findFirst().orElseThrow();
            var cpu = podMetrics.getContainerMetrics(0).getMetricsList().stream()
                    .filter(m -> m.getName().equals("container_cpu_usage_seconds_total")).findFirst().orElseThrow();
            assertEquals(List.of("busy", pod.getMetadata().getName(), "test", id), cpu.getLabelValuesList());
            assertTrue(podMetrics.getMetricsList().stream().anyMatch(m ->
                    m.getName().equals("container_network_receive_bytes_total") && m.getLabelValues(3).equals("eth0")));

            bed.runtime().updateContainerResources(UpdateContainerResourcesRequest.newBuilder().setContainerId(id)
                    .setLinux(LinuxContainerResources.newBuilder().setCpuQuota(20000).setCpuPeriod(100000)
                            .setMemoryLimitInBytes(96L << 20)).build());
            boolean v2 = Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"));
            Path cgroup = Path.of(v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu").resolve(bed.cgroupParent().substring(1));
            Path quota = Files.walk(cgroup).filter(p -> p.endsWith(id + (v2 ? "/cpu.max" : "/cpu.cfs_quota_us")))
                    .findFirst().orElseThrow();
            assertEquals(v2 ? "20000 100000" : "20000", Files.readString(quota).trim());
            if (v2) {
                assertEquals(String.valueOf(96L << 20), Files.readString(quota.resolveSibling("memory.max")).trim());
            }
            assertEquals(96L << 20, bed.status(id).getResources().getLinux().getMemoryLimitInBytes());
            // v1 refuses a limit below the usage; v2 takes it and the kernel reclaims or OOM-kills.
            if (!v2 && Files.readAllLines(Path.of("/proc/swaps")).size() <= 1) {
                // Below what the container already uses (and no swap to push it to): the kernel refuses
                // it, the error names the file, and the recorded resources stay as they were.
                StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> bed.runtime()
                        .updateContainerResources(UpdateContainerResourcesRequest.newBuilder().setContainerId(id)
                                .setLinux(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(16384)).build()));
                assertEquals(Status.Code.INTERNAL, refused.getStatus().getCode());
                assertTrue(refused.getStatus().getDescription().contains("write '16384' to ")
                        && refused.getStatus().getDescription().contains("/memory.limit_in_bytes"),
                        refused.getStatus().getDescription());
                assertEquals(96L << 20, bed.status(id).getResources().getLinux().getMemoryLimitInBytes());
            }
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void eventsArriveInOrder() throws Exception {
        LinkedBlockingQueue<ContainerEventResponse> events = new LinkedBlockingQueue<>();
        var stream = RuntimeServiceGrpc.newStub(bed.daemon.channel()).withWaitForReady();
        io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
        ctx.run(() -> stream.getContainerEvents(GetEventsRequest.getDefaultInstance(),
                new io.grpc.stub.StreamObserver<>() {
                    public void onNext(ContainerEventResponse e) {
                        events.add(e);
                    }

                    public void onError(Throwable t) {
                    }

                    public void onCompleted() {
                    }
                }));
        Thread.sleep(300);
        PodSandboxConfig pod = bed.pod("events").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("short", "sh", "-c", "exit 0"));
            bed.awaitStatus(id, x -> x.getState() == ContainerState.CONTAINER_EXITED, Duration.ofSeconds(20));
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
            List<ContainerEventType> seen = new java.util.ArrayList<>();
            while (seen.size() < 4) {
                ContainerEventResponse e = events.poll(10, TimeUnit.SECONDS);
                assertTrue(e != null, "events so far: " + seen);
                if (e.getContainerId().equals(id)) {
                    seen.add(e.getContainerEventType());
                    if (e.getContainerEventType() != ContainerEventType.CONTAINER_DELETED_EVENT) {
                        assertEquals(podId, e.getPodSandboxStatus().getId());
                    }
                }
            }
            assertEquals(List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_STARTED_EVENT,
                    ContainerEventType.CONTAINER_STOPPED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT), seen);
        } finally {
            ctx.cancel(null);
            bed.removePod(podId);
        }
    }

    @Test
    void removingAContainerWhoseShimWasKilledLeavesNoProcess() throws Exception {
        PodSandboxConfig pod = bed.pod("orphan").build();
        String podId = bed.runPod(pod);
        try {
            String id = bed.createAndStart(podId, pod, container("orphan", "sleep", "300"));
            var info = new com.fasterxml.jackson.databind.ObjectMapper().readTree(bed.runtime().containerStatus(
                    io.coracle.cri.v1.ContainerStatusRequest.newBuilder().setContainerId(id).setVerbose(true).build())
                    .getInfoMap().get("info"));
            long shim = info.path("shimPid").asLong();
            long pid = info.path("pid").asLong();
            assertTrue(ProcessHandle.of(pid).isPresent());
            new ProcessBuilder("kill", "-9", Long.toString(shim)).start().waitFor();
            bed.awaitStatus(id, x -> x.getState() == ContainerState.CONTAINER_UNKNOWN, Duration.ofSeconds(10));
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
            for (int i = 0; i < 100 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false); i++) {
                Thread.sleep(20); // PID 1 of this machine reaps late: wait for the zombie to go
            }
            assertFalse(ProcessHandle.of(pid).map(h -> h.isAlive()
                    && !h.info().command().orElse("").isEmpty()).orElse(false), "container process " + pid + " lives on");
        } finally {
            bed.removePod(podId);
        }
    }

    @Test
    void badInputGetsClearErrorsAndLeavesNothing() throws Exception {
        PodSandboxConfig pod = bed.pod("bad").build();
        String podId = bed.runPod(pod);
        try {
            int before = bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount();
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> bed.create("no-such-pod", pod, container("x", "true")));
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
            e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod, container("x", "true")
                    .setImage(ImageSpec.newBuilder().setImage("docker.io/library/absent:1"))));
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("absent"));
            e = assertThrows(StatusRuntimeException.class, () -> bed.createAndStart(podId, pod,
                    container("nocmd", "/bin/not-there")));
            assertTrue(e.getStatus().getDescription().contains("not-there"), e.getStatus().getDescription());

            String first = bed.create(podId, pod, container("dup", "true"));
            // The same config again is the kubelet's retry after a timeout: it gets the first container.
            assertEquals(first, bed.create(podId, pod, container("dup", "true")));
            e = assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod, container("dup", "false")));
            assertEquals(Status.Code.ALREADY_EXISTS, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains(first));
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(first).build());
            bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(first).build());
            // nocmd may exist (created, failed to start); remove every container of this pod
            for (var c : bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                if (c.getPodSandboxId().equals(podId)) {
                    bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
                }
            }
            assertEquals(before, bed.runtime().listContainers(ListContainersRequest.getDefaultInstance())
                    .getContainersCount());
        } finally {
            bed.removePod(podId);
        }
    }
}
