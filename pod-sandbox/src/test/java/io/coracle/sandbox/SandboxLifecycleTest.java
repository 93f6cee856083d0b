package io.coracle.sandbox;

import io.coracle.sys.Mounts;
import static io.coracle.sandbox.PodFixture.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.PodSandbox;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxFilter;
import io.coracle.cri.v1.PodSandboxState;
import io.coracle.cri.v1.PodSandboxStateValue;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PodSandboxStatus;
import io.coracle.cri.v1.PodSandboxStatusResponse;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.cri.v1.StreamPodSandboxesRequest;
import io.coracle.cri.v1.StreamPodSandboxesResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Pod files, namespaces, cgroups, recovery, name reservation, status and listing. */
class SandboxLifecycleTest {
    private PodFixture f;

    @BeforeEach
    void setUp() throws Exception {
        f = new PodFixture();
    }

    @AfterEach
    void tearDown() throws Exception {
        f.close();
    }

    private void remove(String id) {
        f.service.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
    }

    private static String ns(int pid, String kind) throws Exception {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/" + kind)).toString();
    }

    @Test
    void podFilesAndHostnameMatchTheConfig() throws Exception {
        String id = f.run(f.podWithParent("files").setHostname("files-host")
                .setDnsConfig(PodFixture.dns(List.of("10.96.0.10", "fd00::10"), List.of("ns.svc.cluster.local", "cluster.local"),
                        List.of("ndots:5", "edns0"))));
        Sandbox s = f.get(id);
        assertEquals("search ns.svc.cluster.local cluster.local\nnameserver 10.96.0.10\nnameserver fd00::10\noptions ndots:5 edns0\n",
                Files.readString(s.resolvConf()));
        assertEquals("files-host\n", Files.readString(s.hostnameFile()));
        assertEquals("files-host", sh("nsenter", "--uts=/proc/" + s.pausePid() + "/ns/uts", "hostname").trim());
        assertTrue(Files.readString(s.hostsFile()).contains(s.ip() + "\tfiles-host\n"));
        assertTrue(Files.readString(s.hostsFile()).contains("127.0.0.1\tlocalhost\n"));
        String shm = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                .filter(l -> l.contains(" " + s.shmDir() + " ")).findFirst().orElseThrow();
        assertTrue(shm.contains("tmpfs") && shm.contains("size=65536k") && shm.contains("nosuid") && shm.contains("nodev"), shm);
        remove(id);
        assertEquals(List.of(), f.traces(s));
    }

    @Test
    void withoutDnsConfigThePodGetsTheHostResolvConf() throws Exception {
        String id = f.run(f.podWithParent("hostdns"));
        assertEquals(Files.readString(Path.of("/etc/resolv.conf")), Files.readString(f.get(id).resolvConf()));
    }

    @Test
    void twoPodsDoNotShareIpcUtsOrNetworkAndNotTheHosts() throws Exception {
        Sandbox a = f.get(f.run(f.podWithParent("ns-a"))), b = f.get(f.run(f.podWithParent("ns-b")));
        for (String kind : List.of("ipc", "uts", "net", "pid")) {
            assertNotEquals(ns(a.pausePid(), kind), ns(b.pausePid(), kind), kind);
            assertNotEquals(ns(a.pausePid(), kind), Files.readSymbolicLink(Path.of("/proc/self/ns/" + kind)).toString(), kind);
        }
        assertEquals(Path.of("/proc/" + a.pausePid() + "/ns/ipc"), a.namespacePath("ipc"));
        assertEquals(a.netnsPath(), a.namespacePath("net"));
    }

    @Test
    void podPidModeMakesPausePid1AndNodeModeSharesTheHostPidNamespace() throws Exception {
        Sandbox pod = f.get(f.run(f.podWithParent("pid-pod")));
        String nspid = Files.readAllLines(Path.of("/proc/" + pod.pausePid() + "/status")).stream()
                .filter(l -> l.startsWith("NSpid:")).findFirst().orElseThrow();
        assertTrue(nspid.trim().endsWith("\t1") || nspid.trim().endsWith(" 1"), nspid);
        Sandbox node = f.get(f.run(PodFixture.namespaces(f.podWithParent("pid-node"), NamespaceMode.POD, NamespaceMode.NODE, NamespaceMode.POD)));
        assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/pid")).toString(), ns(node.pausePid(), "pid"));
        assertEquals(null, node.namespacePath("pid"));
        PodSandboxStatusResponse st = f.service.status(PodSandboxStatusRequest.newBuilder().setPodSandboxId(node.id()).build());
        assertEquals(NamespaceMode.NODE, st.getStatus().getLinux().getNamespaces().getOptions().getPid());
    }

    @Test
    void hostIpcPodSharesTheHostIpcNamespace() throws Exception {
        Sandbox s = f.get(f.run(PodFixture.namespaces(f.podWithParent("hostipc"), NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.NODE)));
        assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/ipc")).toString(), ns(s.pausePid(), "ipc"));
        assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString(), ns(s.pausePid(), "net"));
        assertEquals(Path.of("/dev/shm"), s.shmDir());
        assertTrue(Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().noneMatch(l -> l.contains(s.id())
                && l.contains("tmpfs")), "no pod tmpfs for a host-IPC pod");
        remove(s.id());
        assertEquals(List.of(), f.traces(s));
    }

    @Test
    @Tag("cgroup")
    void aPodSharingEveryHostNamespaceStillHasAPauseProcessAndCgroup() throws Exception {
        Sandbox s = f.get(f.run(PodFixture.namespaces(f.podWithParent("allhost"), NamespaceMode.NODE, NamespaceMode.NODE, NamespaceMode.NODE)));
        for (String kind : List.of("net", "ipc", "uts", "pid")) {
            assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/" + kind)).toString(), ns(s.pausePid(), kind), kind);
            assertEquals(null, s.namespacePath(kind));
        }
        assertTrue(s.pause().alive());
        assertEquals(List.of(String.valueOf(s.pausePid())),
                Files.readAllLines(PodFixture.cgroupFile("pids", s.pauseCgroup(), "cgroup.procs")));
        remove(s.id());
        assertEquals(List.of(), f.traces(s));
    }

    @Test
    void sysctlsAreSetInsideThePodOnly() throws Exception {
        String hostSomaxconn = Files.readString(Path.of("/proc/sys/net/core/somaxconn")).trim();
        PodSandboxConfig.Builder b = f.podWithParent("sysctl");
        b.getLinuxBuilder().putSysctls("net.core.somaxconn", "1234").putSysctls("kernel.shmmni", "2048");
        Sandbox s = f.get(f.run(b));
        String pid = String.valueOf(s.pausePid());
        assertEquals("1234", sh("nsenter", "-t", pid, "-n", "cat", "/proc/sys/net/core/somaxconn").trim());
        assertEquals("2048", sh("nsenter", "-t", pid, "-i", "cat", "/proc/sys/kernel/shmmni").trim());
        assertEquals(hostSomaxconn, Files.readString(Path.of("/proc/sys/net/core/somaxconn")).trim());
    }

    @Test
    @Tag("cgroup")
    void podCgroupLivesUnderTheKubeletParentAndHoldsPause() throws Exception {
        Sandbox s = f.get(f.run(f.podWithParent("cg")));
        assertEquals(f.cgroupRoot + "/pod-cg", s.cgroupParent());
        assertEquals(f.cgroupRoot + "/pod-cg/" + s.id(), s.pauseCgroup());
        for (Path d : PodFixture.cgroupDirs(s.pauseCgroup(), "cpu", "memory", "pids", "freezer")) {
            assertEquals(List.of(String.valueOf(s.pausePid())), Files.readAllLines(d.resolve("cgroup.procs")), d.toString());
        }
        if (PodFixture.V2) { // every controller reaches the pause leaf
            assertEquals(Files.readString(Path.of("/sys/fs/cgroup/cgroup.controllers")),
                    Files.readString(Path.of("/sys/fs/cgroup", s.pauseCgroup(), "cgroup.controllers")));
        }
        remove(s.id());
        assertFalse(Files.exists(PodFixture.cgroupFile("cpu", f.cgroupRoot, "")), "the cgroups Coracle created are gone");
        assertEquals(List.of(), f.traces(s));
    }

    @Test
    @Tag("cgroup")
    void defaultParentGetsThePodResourcesAndOverhead() throws Exception {
        PodSandboxConfig.Builder b = PodFixture.pod("res");
        b.getLinuxBuilder().setResources(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(256L << 20).setCpuShares(512))
                .setOverhead(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(16L << 20).setCpuShares(10));
        Sandbox s = f.get(f.run(b));
        assertEquals(f.cgroupRoot + "/pod-" + s.id(), s.cgroupParent());
        Path mem = PodFixture.cgroupFile("memory", s.cgroupParent(), PodFixture.V2 ? "memory.max" : "memory.limit_in_bytes");
        assertEquals(String.valueOf(272L << 20), Files.readString(mem).trim());
        // v2: shares 522 as a weight, 1 + (522 - 2) * 9999 / 262142
        assertEquals(PodFixture.V2 ? "20" : "522", Files.readString(PodFixture.cgroupFile("cpu", s.cgroupParent(),
                PodFixture.V2 ? "cpu.weight" : "cpu.shares")).trim());
        remove(s.id());
        assertEquals(List.of(), f.traces(s));
    }

    @Test
    @Tag("cgroup")
    void systemdDriverExpandsSliceNamesIntoCgroupfsPaths() throws Exception {
        assertEquals("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice",
                PodCgroup.expandSlice("kubepods-burstable-pod1a2b.slice"));
        assertEquals("/", PodCgroup.expandSlice("-.slice"));
        assertThrows(IllegalArgumentException.class, () -> PodCgroup.expandSlice("/kubepods/pod1"));
        String top = f.cgroupRoot.substring(1).replace("-", "_"); // coracle_test_XXXX: one slice level
        SandboxService systemd = new SandboxService(f.config.withCgroups(SandboxConfig.CgroupDriver.SYSTEMD, top + ".slice"));
        PodSandboxConfig.Builder b = PodFixture.pod("sd");
        b.getLinuxBuilder().setCgroupParent(top + "-burstable-podabc.slice");
        String id = systemd.run(RunPodSandboxRequest.newBuilder().setConfig(b).build()).getPodSandboxId();
        Sandbox s = systemd.store().get(id).orElseThrow();
        assertEquals("/" + top + ".slice/" + top + "-burstable.slice/" + top + "-burstable-podabc.slice", s.cgroupParent());
        assertEquals(s.cgroupParent() + "/coracle-" + id + ".scope", s.pauseCgroup());
        assertEquals(List.of(String.valueOf(s.pausePid())),
                Files.readAllLines(PodFixture.cgroupFile("pids", s.pauseCgroup(), "cgroup.procs")));
        systemd.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertFalse(Files.exists(PodFixture.cgroupFile("pids", "/" + top + ".slice", "")));
        assertEquals(List.of(), f.traces(s));
    }

    @Test
    void aNewServiceOnTheSameDirsRecoversRunningPods() throws Exception {
        String id = f.run(f.podWithParent("survivor"));
        Sandbox before = f.get(id);
        SandboxService restarted = new SandboxService(f.config);
        List<Sandbox> recovered = restarted.recover();
        assertEquals(List.of(id), recovered.stream().map(Sandbox::id).toList());
        PodSandboxStatusResponse st = restarted.status(PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).build());
        assertEquals(PodSandboxState.SANDBOX_READY, st.getStatus().getState());
        assertEquals(before.ip(), st.getStatus().getNetwork().getIp());
        assertEquals("survivor", st.getStatus().getMetadata().getName());
        // The name stays reserved across the restart: another config under it is refused, the same one
        // (the kubelet's retry of a call that timed out) gets the pod that call made.
        StatusRuntimeException dup = Refusals.refusal(() -> restarted.run(RunPodSandboxRequest.newBuilder()
                .setConfig(before.podConfig().toBuilder().putLabels("changed", "yes")).build()));
        assertEquals(Status.Code.ALREADY_EXISTS, dup.getStatus().getCode());
        assertEquals(id, restarted.run(RunPodSandboxRequest.newBuilder().setConfig(before.podConfig()).build())
                .getPodSandboxId());
        f.service = restarted;
        restarted.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertFalse(new SandboxService(f.config).recover().getFirst().ready(), "stopped state is persisted");
        restarted.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertEquals(List.of(), f.traces(before));
    }

    /** One event a listener was told of. */
    private record Told(ContainerEventType type, PodSandboxStatus status) {}

    @Test
    void theEventListenerHearsRunStopAndRemoveWithTheStatusOfThatMoment() throws Exception {
        List<Told> told = java.util.Collections.synchronizedList(new ArrayList<>());
        SandboxService evented = new SandboxService(f.config, PodContainersHook.NONE,
                (type, status) -> told.add(new Told(type, status)));
        evented.recover();
        f.service = evented;
        String id = f.run(f.podWithParent("evented"));
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build()); // stopped already: no event
        remove(id);

        assertEquals(List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_STARTED_EVENT,
                ContainerEventType.CONTAINER_STOPPED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT),
                told.stream().map(Told::type).toList());
        assertEquals(List.of(PodSandboxState.SANDBOX_READY, PodSandboxState.SANDBOX_READY,
                PodSandboxState.SANDBOX_NOTREADY, PodSandboxState.SANDBOX_NOTREADY),
                told.stream().map(t -> t.status().getState()).toList());
        for (Told t : told) {
            assertEquals(id, t.status().getId());
            assertEquals("evented", t.status().getMetadata().getName());
            assertEquals("coracle-test", t.status().getMetadata().getNamespace());
            assertFalse(t.status().getMetadata().getUid().isEmpty());
        }
        assertTrue(told.getFirst().status().getNetwork().getIp().startsWith(f.subnetPrefix),
                "a ready pod's event carries its IP: " + told.getFirst().status());
    }

    @Test
    void aPodWhosePauseDiedWhileNoServiceRanIsAnnouncedStoppedAtRecovery() throws Exception {
        String id = f.run(f.podWithParent("died"));
        f.get(id).pause().kill(5000);
        List<Told> told = java.util.Collections.synchronizedList(new ArrayList<>());
        SandboxService restarted = new SandboxService(f.config, PodContainersHook.NONE,
                (type, status) -> told.add(new Told(type, status)));
        restarted.recover();
        f.service = restarted;
        assertEquals(List.of(new Told(ContainerEventType.CONTAINER_STOPPED_EVENT, restarted.status(
                PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).build()).getStatus())), told);
        restarted.recover(); // already NOTREADY: nothing more
        assertEquals(1, told.size());
    }

    @Test
    void recoveryCleansWhatAnUnfinishedRunLeft() throws Exception {
        Path dir = f.config.stateDir().resolve("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        Files.createDirectories(dir);
        int pid = new io.coracle.sys.PauseLauncher(new io.coracle.sys.NativePrograms(f.config.pauseBinary().getParent()))
                .launch(java.util.Set.of("net", "ipc", "uts", "pid"), "orphan", dir.resolve("pause.pid"), java.time.Duration.ofSeconds(5));
        PodFiles.mountShm(dir, 1 << 20);
        Mounts.bindNamespace(Path.of("/proc/" + pid + "/ns/net"), dir.resolve("netns"));
        PauseProcess pause = new PauseProcess(pid, PauseProcess.startTimeOf(pid));
        assertTrue(pause.alive());
        new SandboxService(f.config).recover();
        assertFalse(pause.alive());
        assertFalse(Files.exists(dir));
        assertTrue(Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().noneMatch(l -> l.contains(dir.toString())));
    }

    @Test
    void aSecondPodWithTheSameNameIsRefusedUntilTheFirstIsRemoved() throws Exception {
        PodSandboxConfig cfg = f.podWithParent("dup").build();
        String first = f.service.run(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()).getPodSandboxId();
        assertEquals(first, f.service.run(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()).getPodSandboxId(),
                "a retry with the same config gets the first pod");
        StatusRuntimeException e = Refusals.refusal(() -> f.service.run(RunPodSandboxRequest.newBuilder()
                .setConfig(cfg.toBuilder().setHostname("other")).build()));
        assertEquals(Status.Code.ALREADY_EXISTS, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains(first), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().contains("dup_coracle-test_"), e.getStatus().getDescription());
        // Another attempt number is another name.
        String second = f.service.run(RunPodSandboxRequest.newBuilder()
                .setConfig(cfg.toBuilder().setMetadata(cfg.getMetadata().toBuilder().setAttempt(1))).build()).getPodSandboxId();
        assertNotEquals(first, second);
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(first).build());
        Refusals.refusal(() -> f.service.run(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()),
                "a stopped pod still holds its name");
        remove(first);
        String third = f.service.run(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()).getPodSandboxId();
        assertNotEquals(first, third);
    }

    @Test
    void statusListAndStreamReportWhatWasAsked() throws Exception {
        String a = f.run(f.podWithParent("list-a").putLabels("tier", "front"));
        String b = f.run(f.podWithParent("list-b").putLabels("tier", "back"));
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(b).build());

        PodSandboxStatusResponse st = f.service.status(PodSandboxStatusRequest.newBuilder().setPodSandboxId(a.substring(0, 12)).setVerbose(true).build());
        assertEquals(a, st.getStatus().getId());
        assertEquals("front", st.getStatus().getLabelsMap().get("tier"));
        assertEquals("test pod list-a", st.getStatus().getAnnotationsMap().get("note"));
        assertEquals(NamespaceMode.POD, st.getStatus().getLinux().getNamespaces().getOptions().getNetwork());
        assertTrue(st.getStatus().getCreatedAt() > 0);
        JsonNode info = new ObjectMapper().readTree(st.getInfoMap().get("info"));
        assertEquals(f.get(a).pausePid(), info.get("pid").asInt());
        assertTrue(info.get("networkAttached").asBoolean());
        assertNull(info.get("networkCheck"), "a status runs no CNI CHECK");
        assertEquals("list-a", info.at("/config/metadata/name").asText());

        PodSandboxStatusResponse stopped = f.service.status(PodSandboxStatusRequest.newBuilder().setPodSandboxId(b).build());
        assertEquals(PodSandboxState.SANDBOX_NOTREADY, stopped.getStatus().getState());
        assertEquals("", stopped.getStatus().getNetwork().getIp());

        assertEquals(2, f.service.list(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
        List<PodSandbox> ready = f.service.list(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .setState(PodSandboxStateValue.newBuilder().setState(PodSandboxState.SANDBOX_READY))).build()).getItemsList();
        assertEquals(List.of(a), ready.stream().map(PodSandbox::getId).toList());
        List<PodSandbox> back = f.service.list(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .putLabelSelector("tier", "back")).build()).getItemsList();
        assertEquals(List.of(b), back.stream().map(PodSandbox::getId).toList());
        assertEquals("list-b", back.getFirst().getMetadata().getName());
        List<PodSandbox> byId = f.service.list(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .setId(b.substring(0, 8))).build()).getItemsList();
        assertEquals(List.of(b), byId.stream().map(PodSandbox::getId).toList());

        List<StreamPodSandboxesResponse> chunks = new ArrayList<>();
        boolean[] done = {false};
        f.service.stream(StreamPodSandboxesRequest.getDefaultInstance(), new StreamObserver<>() {
            public void onNext(StreamPodSandboxesResponse r) { chunks.add(r); }
            public void onError(Throwable t) { throw new AssertionError(t); }
            public void onCompleted() { done[0] = true; }
        });
        assertTrue(done[0]);
        assertEquals(2, chunks.stream().mapToInt(StreamPodSandboxesResponse::getPodSandboxesCount).sum());

        StatusRuntimeException nf = Refusals.refusal(
                () -> f.service.status(PodSandboxStatusRequest.newBuilder().setPodSandboxId("feedbeef").build()));
        assertEquals(Status.Code.NOT_FOUND, nf.getStatus().getCode());
        assertTrue(nf.getStatus().getDescription().contains("feedbeef"));
        remove("feedbeef"); // unknown: fine
        remove(a);
        remove(a); // twice: fine
        assertEquals(1, f.service.list(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
    }

    @Test
    void networkReadyFollowsTheCniConfig() throws Exception {
        assertTrue(f.service.networkReady().ready());
        Files.delete(f.config.cniConfDir().resolve(CniConfigLoader.DEFAULT_FILE));
        NetworkCondition none = f.service.networkReady();
        assertFalse(none.ready());
        assertEquals("NetworkPluginNotReady", none.reason());
        assertTrue(none.message().contains(f.config.cniConfDir().toString()), none.message());
        Files.writeString(f.config.cniConfDir().resolve("10-x.conflist"),
                "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"coracle-no-such-plugin\"}]}");
        NetworkCondition missing = f.service.networkReady();
        assertFalse(missing.ready());
        assertTrue(missing.message().contains("coracle-no-such-plugin"), missing.message());
    }
}
