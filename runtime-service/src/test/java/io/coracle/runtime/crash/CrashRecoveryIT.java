package io.coracle.runtime.crash;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * kill -9 of the daemon at a random instant inside each multi-step operation, a restart, then what
 * {@code crictl rmp -fa} does; after every round the host must hold nothing of the test: no mount,
 * cgroup, veth, IPAM reservation, process or record. Rounds: -Dcoracle.crash.rounds (40), seed:
 * -Dcoracle.crash.seed (printed); a long campaign may be time-boxed (-Dcoracle.crash.minutes) and
 * watched (-Dcoracle.crash.progress=FILE).
 */
class CrashRecoveryIT {
    private static final int ROUNDS = Integer.getInteger("coracle.crash.rounds", 40);
    private static final long SEED = Long.getLong("coracle.crash.seed", System.nanoTime());
    /** A time box for a long campaign: no round starts after this many minutes (0: none). */
    private static final int MINUTES = Integer.getInteger("coracle.crash.minutes", 0);
    /** A file each round's line is appended to as it ends (for watching a long campaign), if set. */
    private static final String PROGRESS = System.getProperty("coracle.crash.progress", "");

    /** The operation the kill lands in; everything before it is done first. */
    enum Op { RUN_CREATE_START, RUN_POD, CREATE_CONTAINER, START_CONTAINER, STOP_POD, REMOVE_POD, REMOVE_CONTAINER }

    @Test
    void killedAtAnyInstantLeavesNothingBehind() throws Exception {
        System.out.println("CrashRecoveryIT: " + ROUNDS + " rounds, seed " + SEED + " (-Dcoracle.crash.seed=" + SEED + ")");
        Random random = new Random(SEED);
        Map<String, List<String>> leaksByRound = new LinkedHashMap<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        ExecutorService pool = Executors.newCachedThreadPool();
        try (CrashBed crash = CrashBed.start("")) {
            long deadline = System.nanoTime() + MINUTES * 60_000_000_000L;
            int rounds = 0;
            for (int round = 0; round < ROUNDS && (MINUTES == 0 || System.nanoTime() < deadline); round++) {
                rounds++;
                long t0 = System.nanoTime();
                Op op = Op.values()[round % Op.values().length];
                int delayMs = random.nextInt(401);
                PodSandboxConfig pod = crash.bed.pod("crash" + round).build();
                String[] ids;
                try {
                    ids = prepare(crash, op, pod); // done before the clock starts
                } catch (RuntimeException e) {
                    // A slow machine may time a preparing call out: the round still kills, restarts and checks.
                    System.out.println("CrashRecoveryIT: round " + round + ": preparing " + op + " failed: " + e);
                    ids = null;
                }
                String[] prepared = ids;
                Future<?> target = pool.submit(() -> prepared == null ? null : target(crash, op, pod, prepared));
                Thread.sleep(delayMs);
                crash.killAndRestart();
                try {
                    target.get();
                } catch (Exception expected) {
                    // the call died with the daemon
                }
                List<String> found = new ArrayList<>(crash.removeAllPods());
                for (String leak : crash.leaks()) {
                    if (seen.add(leak)) { // counted in the round it appeared
                        found.add(leak);
                    }
                }
                String key = "round " + round + " " + op + " kill at " + delayMs + " ms";
                report("CrashRecoveryIT: " + key + ": " + (found.isEmpty() ? "clean" : found) + " ("
                        + (System.nanoTime() - t0) / 1_000_000 + " ms)");
                if (!found.isEmpty()) {
                    leaksByRound.put(key, found);
                    System.out.println(crash.daemon().logText());
                }
            }
            int leaks = leaksByRound.values().stream().mapToInt(List::size).sum();
            report("CrashRecoveryIT: " + rounds + " rounds, " + leaks + " leftovers, seed " + SEED);
            assertEquals(Map.of(), leaksByRound, "leftovers after kill -9 (seed " + SEED + ")");
        } finally {
            pool.shutdownNow();
        }
    }

    private static void report(String line) throws java.io.IOException {
        System.out.println(line);
        if (!PROGRESS.isEmpty()) {
            java.nio.file.Files.writeString(java.nio.file.Path.of(PROGRESS), line + "\n",
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        }
    }

    /** Runs the operations before {@code op}; returns {podId, containerId} (null where not made). */
    private static String[] prepare(CrashBed crash, Op op, PodSandboxConfig pod) {
        String podId = null, ctrId = null;
            if (op.ordinal() >= Op.CREATE_CONTAINER.ordinal()) {
                podId = crash.bed.runPod(pod);
            }
            if (op.ordinal() >= Op.START_CONTAINER.ordinal()) {
                ctrId = crash.bed.create(podId, pod, container("c", "sleep", "300"));
            }
            if (op.ordinal() >= Op.STOP_POD.ordinal()) {
                crash.bed.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(ctrId).build());
            }
        return new String[] {podId, ctrId};
    }

    private static Object target(CrashBed crash, Op op, PodSandboxConfig pod, String[] ids) {
        var rt = crash.bed.runtime();
        switch (op) {
            case RUN_CREATE_START -> {
                String podId = crash.bed.runPod(pod);
                crash.bed.createAndStart(podId, pod, container("c", "sleep", "300"));
            }
            case RUN_POD -> crash.bed.runPod(pod);
            case CREATE_CONTAINER -> crash.bed.create(ids[0], pod, container("c", "sleep", "300"));
            case START_CONTAINER -> rt.startContainer(StartContainerRequest.newBuilder().setContainerId(ids[1]).build());
            case STOP_POD -> rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(ids[0]).build());
            case REMOVE_POD -> {
                rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(ids[0]).build());
                rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(ids[0]).build());
            }
            case REMOVE_CONTAINER -> rt.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ids[1]).build());
        }
        return null;
    }
}
