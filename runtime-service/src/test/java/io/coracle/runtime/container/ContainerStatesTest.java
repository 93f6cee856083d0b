package io.coracle.runtime.container;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.coracle.cri.v1.ContainerState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The state a status answers from memory follows every file the shim replaces or adds. */
class ContainerStatesTest {
    @TempDir
    Path dir;
    @TempDir
    Path root;
    private ContainerStore store;

    @org.junit.jupiter.api.BeforeEach
    void store() throws Exception {
        store = new ContainerStore(root);
    }

    private final long self = ProcessHandle.current().pid(); // a live "shim"

    @Test
    void eachReplacementOfStateJsonIsSeenAndExitJsonIsFinal() throws Exception {
        ContainerRecord r = record(dir);
        writeState("created", 0);
        assertEquals(ContainerState.CONTAINER_CREATED, ContainerStates.of(r, store).state());
        assertEquals(ContainerState.CONTAINER_CREATED, ContainerStates.of(r, store).state(), "from memory, unchanged");

        writeState("running", 7);
        ContainerStates running = ContainerStates.of(r, store);
        assertEquals(ContainerState.CONTAINER_RUNNING, running.state());
        assertEquals(7, running.shim().orElseThrow().startedAt());

        Files.writeString(dir.resolve("exit.json"), """
                {"pid":1,"exitCode":3,"signal":0,"oomKilled":false,"createdAt":1,"startedAt":7,"finishedAt":9}
                """);
        ContainerStates exited = ContainerStates.of(r, store);
        assertEquals(ContainerState.CONTAINER_EXITED, exited.state(), "exit.json wins even before state.json says stopped");
        assertEquals(3, exited.exit().orElseThrow().exitCode());
    }

    @Test
    void aShimGoneWithoutAnExitRecordIsUnknownAndForgettingDropsTheCopy() throws Exception {
        ContainerRecord r = record(dir);
        Process shim = new ProcessBuilder("sleep", "60").start();
        try {
            writeState("running", 1, shim.pid());
            assertEquals(ContainerState.CONTAINER_RUNNING, ContainerStates.of(r, store).state());
            assertEquals(ContainerState.CONTAINER_RUNNING, ContainerStates.of(r, store).state(), "from memory");
        } finally {
            shim.destroyForcibly().waitFor();
        }
        assertEquals(ContainerState.CONTAINER_UNKNOWN, ContainerStates.of(r, store).state(), "the shim died, no exit.json");
        Files.delete(dir.resolve("state.json"));
        assertEquals(ContainerState.CONTAINER_UNKNOWN, ContainerStates.of(r, store).state());
        ContainerStates.retain(Set.of());
        writeState("created", 0);
        assertEquals(ContainerState.CONTAINER_CREATED, ContainerStates.of(r, store).state());
    }

    @Test
    void withoutAShimAPendingStartIsCreatedAFailedStartExitedAndNothingUnknown() throws Exception {
        ContainerRecord r = record(dir);
        Path containerDir = Files.createDirectories(store.containerDir(r.id()));
        assertEquals(ContainerState.CONTAINER_UNKNOWN, ContainerStates.of(r, store).state());
        new ContainerStartPlan(null, null).write(containerDir);
        ContainerStates created = ContainerStates.of(r, store);
        assertEquals(ContainerState.CONTAINER_CREATED, created.state());
        assertEquals(java.util.Optional.empty(), created.shim());

        ContainerStartPlan.failed(containerDir, "create container c: mount /x: ENOENT");
        ContainerStates failed = ContainerStates.of(r, store);
        assertEquals(ContainerState.CONTAINER_EXITED, failed.state());
        assertEquals(128, failed.exit().orElseThrow().exitCode());
        assertEquals(0, failed.exit().orElseThrow().startedAt());
        assertEquals("create container c: mount /x: ENOENT", ContainerStartPlan.startError(containerDir).orElseThrow());
        ContainerStates.retain(Set.of());
    }

    /** As the shim writes it: a new file renamed over the old one. */
    private void writeState(String status, long startedAt) throws Exception {
        writeState(status, startedAt, self);
    }

    private void writeState(String status, long startedAt, long shimPid) throws Exception {
        Path tmp = dir.resolve(".state.json.tmp");
        Files.writeString(tmp, "{\"pid\":1,\"shimPid\":%d,\"status\":\"%s\",\"bundle\":\"/b\",\"createdAt\":1,\"startedAt\":%d}\n"
                .formatted(shimPid, status, startedAt));
        Files.move(tmp, dir.resolve("state.json"), StandardCopyOption.ATOMIC_MOVE);
    }

    private static ContainerRecord record(Path stateDir) {
        return new ContainerRecord("c1", "p1", "c", 0, "sha256:1", "sha256:1", 1, "", stateDir, "/cg", "SIGTERM",
                new byte[0], new byte[0]);
    }
}
