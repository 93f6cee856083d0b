package io.coracle.runtime.crash;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemoveImageRequest;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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
 * cgroup, veth, IPAM reservation, process, record, or half-pulled image content. Rounds:
 * -Dcoracle.crash.rounds (40), seed: -Dcoracle.crash.seed (printed), operations:
 * -Dcoracle.crash.ops=PULL_IMAGE,... (all, in turn); a long campaign may be time-boxed
 * (-Dcoracle.crash.minutes) and watched (-Dcoracle.crash.progress=FILE). A PullImage round pulls a
 * multi-layer image (-Dcoracle.crash.pullMiB of random layers, 64) from the test's registry; after the
 * restart it removes the image if listed, checks, then pulls it again and checks the image works.
 */
class CrashRecoveryIT {
    private static final int ROUNDS = Integer.getInteger("coracle.crash.rounds", 40);
    private static final long SEED = Long.getLong("coracle.crash.seed", System.nanoTime());
    /** A time box for a long campaign: no round starts after this many minutes (0: none). */
    private static final int MINUTES = Integer.getInteger("coracle.crash.minutes", 0);
    /** A file each round's line is appended to as it ends (for watching a long campaign), if set. */
    private static final String PROGRESS = System.getProperty("coracle.crash.progress", "");
    private static final int PULL_MIB = Integer.getInteger("coracle.crash.pullMiB", 64);
    private static final int PULL_LAYERS = 4;
    private static final String PULLED = "docker.io/library/crashpull:1";

    /** The operation the kill lands in; everything before it is done first. */
    enum Op { RUN_CREATE_START, RUN_POD, CREATE_CONTAINER, START_CONTAINER, STOP_POD, REMOVE_POD, REMOVE_CONTAINER, PULL_IMAGE }

    private static final List<Op> OPS = System.getProperty("coracle.crash.ops", "").isBlank() ? List.of(Op.values())
            : java.util.Arrays.stream(System.getProperty("coracle.crash.ops").split(",")).map(String::trim).map(Op::valueOf).toList();

    @Test
    void killedAtAnyInstantLeavesNothingBehind() throws Exception {
        System.out.println("CrashRecoveryIT: " + ROUNDS + " rounds, seed " + SEED + " (-Dcoracle.crash.seed=" + SEED + ")");
        Random random = new Random(SEED);
        Map<String, List<String>> leaksByRound = new LinkedHashMap<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        ExecutorService pool = Executors.newCachedThreadPool();
        try (CrashBed crash = CrashBed.start("")) {
            if (OPS.contains(Op.PULL_IMAGE)) {
                crash.pushLayeredImage("library/crashpull", PULL_MIB, PULL_LAYERS);
            }
            long deadline = System.nanoTime() + MINUTES * 60_000_000_000L;
            int rounds = 0;
            for (int round = 0; round < ROUNDS && (MINUTES == 0 || System.nanoTime() < deadline); round++) {
                rounds++;
                long t0 = System.nanoTime();
                Op op = OPS.get(round % OPS.size());
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
                if (op == Op.PULL_IMAGE) {
                    found.addAll(removePulledImage(crash));
                }
                for (String leak : crash.leaks()) {
                    if (seen.add(leak)) { // counted in the round it appeared
                        found.add(leak);
                    }
                }
                if (op == Op.PULL_IMAGE && found.isEmpty()) {
                    found.addAll(pullAgain(crash, round, seen));
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

    private static ImageSpec pulled() {
        return ImageSpec.newBuilder().setImage(PULLED).build();
    }

    /** Removes the image if the restarted daemon lists it (the pull finished before the kill); returns errors. */
    private static List<String> removePulledImage(CrashBed crash) {
        try {
            var images = crash.daemon().images().withDeadlineAfter(2, java.util.concurrent.TimeUnit.MINUTES);
            if (images.imageStatus(ImageStatusRequest.newBuilder().setImage(pulled()).build()).hasImage()) {
                images.removeImage(RemoveImageRequest.newBuilder().setImage(pulled()).build());
                System.out.println("CrashRecoveryIT: the pull had finished before the kill");
            }
            return List.of();
        } catch (RuntimeException e) {
            return List.of("rmi " + PULLED + ": " + e.getMessage());
        }
    }

    /**
     * The pull after the restart: it succeeds, the image has all its layers, and every other round a
     * container of it reads each layer's file whole; then the image is removed and nothing of it stays.
     */
    private static List<String> pullAgain(CrashBed crash, int round, java.util.Set<String> seen) throws Exception {
        List<String> found = new ArrayList<>();
        try {
            var images = crash.daemon().images().withDeadlineAfter(2, java.util.concurrent.TimeUnit.MINUTES);
            long t0 = System.nanoTime();
            images.pullImage(PullImageRequest.newBuilder().setImage(pulled()).build());
            System.out.println("CrashRecoveryIT: pulled again in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            var image = images.imageStatus(ImageStatusRequest.newBuilder().setImage(pulled()).build()).getImage();
            if (image.getSize() < (long) PULL_MIB << 20) {
                found.add("pulled again: size " + image.getSize());
            }
            if ((round / OPS.size()) % 2 == 0) {
                PodSandboxConfig pod = crash.bed.pod("pulled" + round).build();
                String podId = crash.bed.runPod(pod);
                StringBuilder files = new StringBuilder();
                for (int i = 0; i < PULL_LAYERS; i++) {
                    files.append(" /layer").append(i);
                }
                String id = crash.bed.createAndStart(podId, pod, container("reader", "sh", "-c", "cat" + files + " | wc -c")
                        .setImage(pulled()));
                var s = crash.bed.awaitStatus(id, st -> st.getState() == ContainerState.CONTAINER_EXITED, Duration.ofSeconds(60));
                String out = Files.readString(Path.of(s.getLogPath()), StandardCharsets.UTF_8);
                long want = (long) ((PULL_MIB << 20) / PULL_LAYERS) * PULL_LAYERS;
                if (s.getExitCode() != 0 || !out.strip().endsWith(" " + want)) {
                    found.add("container of the pulled image: exit " + s.getExitCode() + ", printed " + out.strip());
                }
                crash.bed.removePod(podId);
            }
            images.removeImage(RemoveImageRequest.newBuilder().setImage(pulled()).build());
        } catch (RuntimeException e) {
            found.add("pull after restart: " + e);
        }
        for (String leak : crash.leaks()) {
            if (seen.add(leak)) {
                found.add("after the second pull: " + leak);
            }
        }
        return found;
    }

    /** Runs the operations before {@code op}; returns {podId, containerId} (null where not made). */
    private static String[] prepare(CrashBed crash, Op op, PodSandboxConfig pod) {
        String podId = null, ctrId = null;
        if (op == Op.PULL_IMAGE) {
            return new String[] {null, null};
        }
            if (op.ordinal() >= Op.CREATE_CONTAINER.ordinal()) {
                podId = crash.bed.runPod(pod);
            }
            if (op.ordinal() >= Op.START_CONTAINER.ordinal()) {
                ctrId = crash.bed.create(podId, pod, withImageVolume(container("c", "sleep", "300")));
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
                crash.bed.createAndStart(podId, pod, withImageVolume(container("c", "sleep", "300")));
            }
            case RUN_POD -> crash.bed.runPod(pod);
            case CREATE_CONTAINER -> crash.bed.create(ids[0], pod, withImageVolume(container("c", "sleep", "300")));
            case START_CONTAINER -> rt.startContainer(StartContainerRequest.newBuilder().setContainerId(ids[1]).build());
            case STOP_POD -> rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(ids[0]).build());
            case REMOVE_POD -> {
                rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(ids[0]).build());
                rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(ids[0]).build());
            }
            case REMOVE_CONTAINER -> rt.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ids[1]).build());
            case PULL_IMAGE -> crash.daemon().images().pullImage(PullImageRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(PULLED)).build());
        }
        return null;
    }

    /** The crashed container mounts an image volume too: its lease must be released with the rest. */
    private static io.coracle.cri.v1.ContainerConfig.Builder withImageVolume(io.coracle.cri.v1.ContainerConfig.Builder c) {
        return c.addMounts(io.coracle.cri.v1.Mount.newBuilder().setContainerPath("/vol").setReadonly(true)
                .setImage(ImageSpec.newBuilder().setImage(io.coracle.testing.CriTestbed.BUSYBOX)).setImageSubPath("bin"));
    }
}
