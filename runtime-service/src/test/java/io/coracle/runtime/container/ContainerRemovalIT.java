package io.coracle.runtime.container;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.testing.CriTestbed;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * RemoveContainer takes the container's directories away at once and deletes them in the background,
 * through no link the container planted; what a crash leaves in the trash, and an image lease a node's
 * crash lost (leases are not fsync'd), are put right at the next start-up.
 */
class ContainerRemovalIT {
    private static CriTestbed bed;
    private static Path host;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start();
        host = Files.createTempDirectory("coracle-removal-host-");
        Files.writeString(host.resolve("precious"), "host data");
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (bed != null) {
                bed.close();
            }
        } finally {
            io.coracle.testing.DaemonProcess.deleteTree(host);
        }
    }

    private static Path root() {
        return bed.daemon.dir().resolve("root");
    }

    private static Path state() {
        return bed.daemon.dir().resolve("state");
    }

    private static List<Path> list(Path dir) throws Exception {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    /** Polls until both trash directories are empty (bounded). */
    private static void awaitEmptyTrash() throws Exception {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!list(root().resolve("trash")).isEmpty() || !list(state().resolve("trash")).isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("trash not emptied: " + list(root().resolve("trash")) + " "
                        + list(state().resolve("trash")));
            }
            Thread.sleep(20);
        }
    }

    private static List<String> leases() throws Exception {
        try (Stream<Path> s = Files.list(root().resolve("leases"))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aRemovedContainersFilesGoAtOnceAndItsLinksAreNeverFollowed() throws Exception {
        PodSandboxConfig pod = bed.pod("removal").build();
        String podId = bed.runPod(pod);
        // A hostile container: its writable layer holds many files and links to host paths (as the host
        // sees them), and a directory it cannot list once it drops its own permissions.
        String id = bed.createAndStart(podId, pod, container("hostile", "sh", "-c",
                "mkdir -p /d/locked && i=0; while [ $i -lt 300 ]; do echo x > /d/f$i; i=$((i+1)); done;"
                        + " ln -s " + host + " /d/to-host; ln -s " + host.resolve("precious") + " /d/to-file;"
                        + " ln -s / /d/to-root; touch /d/locked/f; chmod 000 /d/locked; touch /ready; sleep 300"));
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addCmd("test").addCmd("-e")
                .addCmd("/ready").setTimeout(5).build()).getExitCode() != 0) {
            assertTrue(System.nanoTime() < deadline, "the container never finished writing");
            Thread.sleep(50);
        }
        String count = bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addCmd("sh")
                .addCmd("-c").addCmd("ls /d | wc -l").setTimeout(5).build()).getStdout().toString(StandardCharsets.UTF_8);
        assertEquals("304", count.trim());
        Path containerDir = root().resolve("containers").resolve(id);
        Path stateDir = state().resolve("ctr").resolve(id.substring(0, 16));
        assertTrue(Files.isDirectory(containerDir.resolve("upper/d")));
        assertTrue(leases().contains(id + ".json"), leases().toString());

        bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());

        // Gone when the call returns: the directories, the record, the lease.
        assertFalse(Files.exists(containerDir, LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(stateDir, LinkOption.NOFOLLOW_LINKS));
        assertEquals(0, bed.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
        assertFalse(leases().contains(id + ".json"), leases().toString());
        awaitEmptyTrash();
        assertEquals("host data", Files.readString(host.resolve("precious")));
        assertEquals(List.of(host.resolve("precious")), list(host));
        assertTrue(Files.isDirectory(Path.of("/etc")) && Files.exists(Path.of("/bin/sh")));

        // The name is free again, for the kubelet's next attempt.
        String again = bed.create(podId, pod, container("hostile", "true"));
        bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(again).build());
        bed.removePod(podId);
        awaitEmptyTrash();
    }

    @Test
    void startUpEmptiesTheTrashAndTakesALostImageLeaseAgain() throws Exception {
        PodSandboxConfig pod = bed.pod("restart").build();
        String podId = bed.runPod(pod);
        String id = bed.create(podId, pod, container("kept", "sleep", "300"));
        Path lease = root().resolve("leases").resolve(id + ".json");
        assertTrue(Files.exists(lease), lease.toString());
        // What a node's crash can leave: the lease (written, not fsync'd) lost, a deletion unfinished.
        String held = Files.readString(lease);
        Files.delete(lease);
        Files.createDirectories(root().resolve("trash/c0ffee.1/upper/x"));
        Files.writeString(root().resolve("trash/c0ffee.1/upper/x/f"), "left");
        Files.createDirectories(state().resolve("trash/c0ffee.2"));
        Files.createSymbolicLink(state().resolve("trash/c0ffee.2/to-host"), host);

        bed.crashAndRestartDaemon();

        awaitEmptyTrash();
        assertEquals("host data", Files.readString(host.resolve("precious")));
        assertTrue(Files.exists(lease), "the lease was not taken again at start-up");
        assertEquals(held, Files.readString(lease)); // the same holder, image, layers and blobs
        bed.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        assertFalse(Files.exists(lease));
        bed.removePod(podId);
    }
}
