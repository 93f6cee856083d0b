package io.coracle.runtime.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A CNI plugin that fails, hangs or dies on ADD or DEL (the faulty-cni.sh wrapper around the bridge
 * plugin): what the kubelet sees, and that nothing stays behind once the pod is removed.
 */
class CniFaultIT {
    private static CrashBed crash;

    @BeforeAll
    static void start() throws Exception {
        crash = CrashBed.start("plugin_timeout_seconds = 3\n");
    }

    @AfterAll
    static void stop() throws Exception {
        crash.close();
    }

    @AfterEach
    void noFault() throws Exception {
        crash.fault(null);
    }

    private String run(String name) {
        return crash.bed.runPod(crash.bed.pod(name).build());
    }

    private void assertNothingLeft() throws Exception {
        assertEquals(0, crash.bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
        assertEquals(List.of(), crash.leaks());
        assertEquals(List.of(), hangingPlugins());
    }

    /** The wrapper's hang is "sleep 3599": any left means a timed-out plugin was never killed. */
    private static List<String> hangingPlugins() throws Exception {
        try (Stream<Path> ps = Files.list(Path.of("/proc"))) {
            return ps.filter(p -> p.getFileName().toString().matches("\\d+")).map(p -> {
                try {
                    return Files.readString(p.resolve("cmdline")).replace('\0', ' ').trim();
                } catch (Exception e) {
                    return "";
                }
            }).filter(c -> c.equals("sleep 3599")).toList();
        }
    }

    @Test
    void addFailureUndoesEverything() throws Exception {
        crash.fault("fail-ADD");
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> run("addfail"));
        assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("injected ADD failure"), e.getStatus().getDescription());
        assertNothingLeft();
    }

    @Test
    void pluginDyingAfterItsWorkOnAddIsUndoneByDel() throws Exception {
        crash.fault("crash-ADD"); // the bridge made the veth and host-local reserved an address, then the plugin died
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> run("addcrash"));
        assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode());
        assertNothingLeft();
    }

    @Test
    void hangingAddTimesOutAndIsUndone() throws Exception {
        crash.fault("hang-ADD");
        long t0 = System.nanoTime();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> run("addhang"));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("no answer within 3 s"), e.getStatus().getDescription());
        assertTrue(ms < 15_000, "RunPodSandbox took " + ms + " ms");
        assertNothingLeft();
    }

    @Test
    void delFailureKeepsThePodUntilDelSucceeds() throws Exception {
        String pod = run("delfail");
        crash.fault("fail-DEL");
        var rt = crash.bed.runtime();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
        assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("injected DEL failure"), e.getStatus().getDescription());
        assertThrows(StatusRuntimeException.class,
                () -> rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
        assertEquals(1, rt.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
        crash.fault(null); // the plugin recovers: the next stop's DEL succeeds and the pod goes
        rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertNothingLeft();
    }

    @Test
    void hangingDelTimesOutAndIsRetried() throws Exception {
        String pod = run("delhang");
        crash.fault("hang-DEL");
        var rt = crash.bed.runtime();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
        assertTrue(e.getStatus().getDescription().contains("no answer within 3 s"), e.getStatus().getDescription());
        crash.fault(null);
        crash.bed.removePod(pod);
        assertNothingLeft();
    }

    @Test
    void delFailureIsRetriedAtStartUp() throws Exception {
        String pod = run("delrestart");
        crash.fault("fail-DEL");
        assertThrows(StatusRuntimeException.class, () -> crash.bed.runtime()
                .stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build()));
        crash.fault(null);
        crash.killAndRestart();
        assertTrue(crash.daemon().logText().contains("CNI DEL that failed before now succeeded"),
                crash.daemon().logText());
        // The address is free before anyone removes the pod.
        assertTrue(crash.leaks().stream().noneMatch(l -> l.startsWith("IPAM")), crash.leaks().toString());
        crash.bed.removePod(pod);
        assertNothingLeft();
    }
}
