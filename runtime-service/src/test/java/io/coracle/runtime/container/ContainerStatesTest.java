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

    private final long self = ProcessHandle.current().pid(); // a live "shim"

    @Test
    void eachReplacementOfStateJsonIsSeenAndExitJsonIsFinal() throws Exception {
        ContainerRecord r = record(dir);
        writeState("created", 0);
        assertEquals(ContainerState.CONTAINER_CREATED, ContainerStates.of(r).state());
        assertEquals(ContainerState.CONTAINER_CREATED, ContainerStates.of(r).state(), "from memory, unchanged");

        writeState("running", 7);
        ContainerStates running = ContainerStates.of(r);
        assertEquals(ContainerState.CONTAINER_RUNNING, running.state());
        assertEquals(7, running.shim().orElseThrow().startedAt());

        Files.writeString(dir.resolve("exit.json"), """
                {"pid":1,"exitCode":3,"signal":0,"oomKilled":false,"createdAt":1,"startedAt":7,"finishedAt":9}
                """);
        ContainerStates exited = ContainerStates.of(r);
        assertEquals(ContainerState.CONTAINER_EXITED, exited.state(), "exit.json wins even before state.json says stopped");
        assertEquals(3, exited.exit().orElseThrow().exitCode());
    }

    @Test
    void aShimGoneWithoutAnExitRecordIsUnknownAndForgettingDropsTheCopy() throws Exception {
        ContainerRecord r = record(dir);
        writeState("running", 1);
        assertEquals(ContainerState.CONTAINER_RUNNING, ContainerStates.of(r).state());
        Files.delete(dir.resolve("state.json"));
        assertEquals(ContainerState.CONTAINER_UNKNOWN, ContainerStates.of(r).state());
        ContainerStates.retain(Set.of());
        writeState("created", 0);
        assertEquals(ContainerState.CONTAINER_CREATED, ContainerStates.of(r).state());
    }

    /** As the shim writes it: a new file renamed over the old one. */
    private void writeState(String status, long startedAt) throws Exception {
        Path tmp = dir.resolve(".state.json.tmp");
        Files.writeString(tmp, "{\"pid\":1,\"shimPid\":%d,\"status\":\"%s\",\"bundle\":\"/b\",\"createdAt\":1,\"startedAt\":%d}\n"
                .formatted(self, status, startedAt));
        Files.move(tmp, dir.resolve("state.json"), StandardCopyOption.ATOMIC_MOVE);
    }

    private static ContainerRecord record(Path stateDir) {
        return new ContainerRecord("c1", "p1", "c", 0, "sha256:1", "sha256:1", 1, "", stateDir, "/cg", "SIGTERM",
                new byte[0], new byte[0]);
    }
}
