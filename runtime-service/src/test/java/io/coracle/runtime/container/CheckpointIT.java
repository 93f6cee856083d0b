package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.CheckpointContainerRequest;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.runtime.checkpoint.CriuSupport;
import io.coracle.testing.CriTestbed;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * CheckpointContainer through the real daemon and Debian's criu: a running busybox counter
 * checkpointed into the kubelet's checkpoint directory, and every request an attacker or a confused
 * client would send (a location elsewhere, "..", a planted symlink, a missing or stopped container).
 * Where CRIU cannot dump on this kernel, the test asserts the error says why in CRIU's words, names
 * CRIU's log, writes nothing, and leaves the container running.
 */
class CheckpointIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    static CriTestbed bed;
    static Path dir;
    static Path checkpoints;
    static Path outside;
    static String podId;
    static PodSandboxConfig pod;
    /** Whether `criu check` passes on this host: decides what a checkpoint of a running container must give. */
    static CriuSupport criu;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("coracle-ckpt-it-");
        checkpoints = Files.createDirectories(dir.resolve("checkpoints"));
        outside = Files.createDirectories(dir.resolve("outside"));
        // CORACLE_TEST_CRIU: a CRIU other than the installed one (>= 4.1 works on kernels >= 6.13).
        String wanted = System.getenv("CORACLE_TEST_CRIU");
        Path criuPath = wanted == null || wanted.isEmpty() ? null : Path.of(wanted);
        bed = CriTestbed.start(dir.resolve("bed"), "[checkpoint]\ndir = \"" + checkpoints + "\"\n"
                + (criuPath == null ? "" : "criu = \"" + criuPath + "\"\n"));
        pod = bed.pod("ckpt").build();
        podId = bed.runPod(pod);
        criu = CriuSupport.probe(criuPath);
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (bed != null) {
                bed.close();
            }
        } finally {
            io.coracle.sys.AtFiles.deleteTree(dir);
        }
    }

    private static CheckpointContainerRequest request(String id, String location) {
        return CheckpointContainerRequest.newBuilder().setContainerId(id).setLocation(location).setTimeout(60).build();
    }

    private static String counter(String id) {
        return bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addCmd("cat")
                .addCmd("/tmp/counter").setTimeout(10).build()).getStdout().toStringUtf8().trim();
    }

    private static String startCounter(String name) throws Exception {
        String id = bed.createAndStart(podId, pod, container(name, "sh", "-c",
                "i=0; while true; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter;"
                        + " echo count $i; sleep 0.1; done"));
        bed.awaitStatus(id, s -> s.getState() == ContainerState.CONTAINER_RUNNING, Duration.ofSeconds(20));
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (counter(id).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        return id;
    }

    private static void assertStillCounting(String id) throws Exception {
        assertEquals(ContainerState.CONTAINER_RUNNING, bed.status(id).getState());
        int before = Integer.parseInt(counter(id));
        Thread.sleep(500);
        assertTrue(Integer.parseInt(counter(id)) > before, "the container keeps counting after the checkpoint");
    }

    private static List<String> checkpointDirContents() throws Exception {
        try (var s = Files.walk(checkpoints)) {
            return s.filter(p -> !p.equals(checkpoints)).map(Path::toString).toList();
        }
    }

    @Test
    void runningCounterIsCheckpointedOrCriusReasonIsReported() throws Exception {
        String id = startCounter("counter");
        Path location = checkpoints.resolve("checkpoint-ckpt_test-counter-2026-12-07T05:00:00Z.tar");
        if (criu.usable()) {
            bed.runtime().checkpointContainer(request(id, location.toString()));
            Map<String, byte[]> members = read(location);
            for (String name : List.of("config.dump", "spec.dump", "status.dump", "checkpoint/", "rootfs-diff.tar",
                    "container.log", "dump.log")) {
                assertTrue(members.containsKey(name), name + " in " + members.keySet());
            }
            assertTrue(members.keySet().stream().anyMatch(n -> n.startsWith("checkpoint/pages-")), members.keySet().toString());
            JsonNode config = JSON.readTree(members.get("config.dump"));
            assertEquals(id, config.get("id").asText());
            assertEquals("counter", config.get("name").asText());
            assertEquals(CriTestbed.BUSYBOX, config.get("rootfsImageName").asText());
            assertFalse(config.get("restored").asBoolean());
            JsonNode spec = JSON.readTree(members.get("spec.dump"));
            assertEquals("sh", spec.at("/process/args/0").asText());
            assertEquals(0600, Files.getPosixFilePermissions(location).stream().mapToInt(p -> 1 << (8 - p.ordinal())).sum());
            Files.delete(location); // the other tests expect an empty checkpoint directory
        } else {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> bed.runtime().checkpointContainer(request(id, location.toString())));
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getStatus().toString());
            String message = e.getStatus().getDescription();
            System.out.println("CheckpointContainer of a running container answered: " + e.getStatus());
            // CRIU's own first error line, as `criu check` printed it at start-up, is in the answer.
            String firstError = criu.reason().split("; ")[0];
            assertTrue(message.contains("criu dump failed") && message.contains(firstError), message);
            int at = message.indexOf("CRIU's log: ");
            assertTrue(at > 0, message);
            Path log = Path.of(message.substring(at + "CRIU's log: ".length()).trim());
            assertTrue(Files.readString(log).contains("Error ("), "CRIU's log is kept at " + log);
            assertFalse(Files.exists(location, LinkOption.NOFOLLOW_LINKS), "no archive after a failed dump");
            assertEquals(List.of(), checkpointDirContents());
        }
        assertStillCounting(id);
    }

    @Test
    void statusReportsCriuAsProbed() throws Exception {
        Map<String, String> info = bed.runtime().status(StatusRequest.newBuilder().setVerbose(true).build()).getInfoMap();
        JsonNode c = JSON.readTree(info.get("checkpoint"));
        assertEquals(criu.usable(), c.get("usable").asBoolean(), c.toString());
        assertEquals(checkpoints.toString(), c.get("checkpointDir").asText());
        assertEquals(criu.reason(), c.get("reason").asText());
        if (!criu.usable()) {
            assertTrue(c.get("summary").asText().contains("cannot checkpoint on this kernel"), c.toString());
        }
    }

    @Test
    void locationsOutsideTheCheckpointDirectoryAreRefused() throws Exception {
        String id = startCounter("target");
        Path victim = outside.resolve("victim.tar");
        for (String location : List.of(victim.toString(), "", "relative/ckpt.tar",
                checkpoints + "/../outside/victim.tar", checkpoints + "/./ckpt.tar", checkpoints + "//ckpt.tar",
                checkpoints.toString(), checkpoints + "/", "/etc/passwd")) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> bed.runtime().checkpointContainer(request(id, location)), location);
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), location + ": " + e.getStatus());
        }
        assertFalse(Files.exists(victim));
        assertEquals(List.of(), checkpointDirContents());
        assertTrue(Files.readString(Path.of("/etc/passwd")).startsWith("root:"));
        assertStillCounting(id);
    }

    @Test
    void aSymlinkPlantedAtTheLocationIsNeverFollowed() throws Exception {
        String id = startCounter("planted");
        Path victim = outside.resolve("planted-victim");
        Path link = checkpoints.resolve("planted.tar");
        Files.createSymbolicLink(link, victim);
        Path dirLink = checkpoints.resolve("sub");
        Files.createSymbolicLink(dirLink, outside);
        Path dangling = checkpoints.resolve("dangling.tar");
        Files.createSymbolicLink(dangling, Path.of("/nonexistent-coracle/dir/file"));
        try {
            for (Path location : List.of(link, dirLink.resolve("x.tar"), dangling)) {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                        () -> bed.runtime().checkpointContainer(request(id, location.toString())), location.toString());
                assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
                assertTrue(e.getStatus().getDescription().contains("symlink"), e.getStatus().getDescription());
            }
            assertFalse(Files.exists(victim, LinkOption.NOFOLLOW_LINKS));
            assertFalse(Files.exists(outside.resolve("x.tar"), LinkOption.NOFOLLOW_LINKS));
            assertEquals(victim, Files.readSymbolicLink(link), "the planted link is left as it was");
            // An existing file is never overwritten.
            Path existing = Files.writeString(checkpoints.resolve("existing.tar"), "keep");
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> bed.runtime().checkpointContainer(request(id, existing.toString())));
            assertEquals(Status.Code.ALREADY_EXISTS, e.getStatus().getCode());
            assertEquals("keep", Files.readString(existing));
            Files.delete(existing);
        } finally {
            Files.delete(link);
            Files.delete(dirLink);
            Files.delete(dangling);
        }
        assertStillCounting(id);
    }

    @Test
    void missingAndStoppedContainersAreRefused() throws Exception {
        Path location = checkpoints.resolve("none.tar");
        StatusRuntimeException missing = assertThrows(StatusRuntimeException.class,
                () -> bed.runtime().checkpointContainer(request("0123456789abcdef0123456789abcdef", location.toString())));
        assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode());
        StatusRuntimeException empty = assertThrows(StatusRuntimeException.class,
                () -> bed.runtime().checkpointContainer(request("", location.toString())));
        assertEquals(Status.Code.INVALID_ARGUMENT, empty.getStatus().getCode());

        String stopped = startCounter("stopped");
        bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(stopped).setTimeout(2).build());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> bed.runtime().checkpointContainer(request(stopped, location.toString())));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("only running containers can be checkpointed"),
                e.getStatus().getDescription());

        String created = bed.create(podId, pod, container("created", "sleep", "60"));
        StatusRuntimeException c = assertThrows(StatusRuntimeException.class,
                () -> bed.runtime().checkpointContainer(request(created, location.toString())));
        assertEquals(Status.Code.FAILED_PRECONDITION, c.getStatus().getCode());
        assertFalse(Files.exists(location, LinkOption.NOFOLLOW_LINKS));
    }

    /** A checkpoint archive with the given metadata members (name, JSON), as another node would send it. */
    static Path archive(Path at, Map<String, String> members) throws Exception {
        try (var out = Files.newOutputStream(at);
             var tar = new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(out)) {
            for (var m : members.entrySet()) {
                byte[] data = m.getValue().getBytes(java.nio.charset.StandardCharsets.UTF_8);
                TarArchiveEntry e = new TarArchiveEntry(m.getKey());
                e.setSize(data.length);
                tar.putArchiveEntry(e);
                tar.write(data);
                tar.closeArchiveEntry();
            }
        }
        return at;
    }

    private static StatusRuntimeException restoreFails(String image) {
        return assertThrows(StatusRuntimeException.class, () -> bed.create(podId, pod,
                container("restored", "sh").setImage(io.coracle.cri.v1.ImageSpec.newBuilder().setImage(image))), image);
    }

    @Test
    void createContainerFromACheckpointArchiveIsCheckedAndRefusedWithCriusReason() throws Exception {
        int before = bed.runtime().listContainers(io.coracle.cri.v1.ListContainersRequest.getDefaultInstance())
                .getContainersCount();
        String config = "{\"id\":\"abc\",\"name\":\"counter\",\"rootfsImageName\":\"" + CriTestbed.BUSYBOX
                + "\",\"rootfsImageRef\":\"\",\"runtime\":\"coracle-shim\"}";
        Path good = archive(checkpoints.resolve("restore-good.tar"), Map.of("config.dump", config,
                "spec.dump", "{\"ociVersion\":\"1.0.2\"}", "checkpoint/inventory.img", "x"));
        if (!criu.usable()) {
            StatusRuntimeException e = restoreFails(good.toString());
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains(criu.reason().split("; ")[0]), e.getStatus().getDescription());
            System.out.println("CreateContainer from a checkpoint archive answered: " + e.getStatus());
        } // with a working CRIU, RestoreIT restores real checkpoints
        // Archives elsewhere, through symlinks, missing, or not checkpoint archives.
        Path elsewhere = archive(outside.resolve("elsewhere.tar"), Map.of("config.dump", config, "spec.dump", "{}"));
        assertEquals(Status.Code.INVALID_ARGUMENT, restoreFails(elsewhere.toString()).getStatus().getCode());
        assertEquals(Status.Code.INVALID_ARGUMENT, restoreFails(checkpoints + "/../outside/elsewhere.tar").getStatus().getCode());
        Path link = Files.createSymbolicLink(checkpoints.resolve("restore-link.tar"), elsewhere);
        assertEquals(Status.Code.INVALID_ARGUMENT, restoreFails(link.toString()).getStatus().getCode());
        assertEquals(Status.Code.INVALID_ARGUMENT, restoreFails("/etc/passwd").getStatus().getCode());
        assertEquals(Status.Code.NOT_FOUND, restoreFails(checkpoints.resolve("absent.tar").toString()).getStatus().getCode());
        Path noConfig = archive(checkpoints.resolve("restore-noconfig.tar"), Map.of("spec.dump", "{}"));
        assertEquals(Status.Code.INVALID_ARGUMENT, restoreFails(noConfig.toString()).getStatus().getCode());
        Path notTar = Files.writeString(checkpoints.resolve("restore-nottar.tar"), "hello");
        assertEquals(Status.Code.INVALID_ARGUMENT, restoreFails(notTar.toString()).getStatus().getCode());
        Path otherImage = archive(checkpoints.resolve("restore-otherimage.tar"), Map.of("config.dump",
                config.replace(CriTestbed.BUSYBOX, "docker.io/library/absent:1"), "spec.dump", "{}"));
        StatusRuntimeException absent = restoreFails(otherImage.toString());
        assertEquals(Status.Code.NOT_FOUND, absent.getStatus().getCode());
        assertTrue(absent.getStatus().getDescription().contains("docker.io/library/absent:1"));
        assertEquals(before, bed.runtime().listContainers(io.coracle.cri.v1.ListContainersRequest.getDefaultInstance())
                .getContainersCount(), "no container was made");
        for (Path p : List.of(good, link, noConfig, notTar, otherImage)) {
            Files.delete(p);
        }
    }

    static Map<String, byte[]> read(Path archive) throws Exception {
        Map<String, byte[]> members = new HashMap<>();
        try (InputStream in = Files.newInputStream(archive); TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                members.put(e.getName(), tar.readAllBytes());
            }
        }
        return members;
    }

    static List<String> names(Map<String, byte[]> members) {
        return new ArrayList<>(members.keySet());
    }
}
