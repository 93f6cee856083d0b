package io.coracle.runtime.container;

import io.coracle.cri.v1.ContainerState;
import io.coracle.shim.ExitRecord;
import io.coracle.shim.ShimClient;
import io.coracle.shim.ShimStateFile;
import io.coracle.sys.Syscalls;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.Optional;

/** A container's run state as its shim's files tell it, without a round trip to the shim. */
record ContainerStates(ContainerState state, Optional<ShimStateFile> shim, Optional<ExitRecord> exit) {

    static ContainerStates of(ContainerRecord r) {
        ShimClient client = new ShimClient(r.stateDir());
        Optional<ExitRecord> exit;
        Optional<ShimStateFile> shim;
        try {
            exit = client.exitRecord();
        } catch (IOException e) {
            exit = Optional.empty();
        }
        try {
            shim = Optional.of(client.stateFile());
        } catch (NoSuchFileException e) {
            shim = Optional.empty();
        } catch (IOException e) {
            shim = Optional.empty();
        }
        if (exit.isPresent()) {
            return new ContainerStates(ContainerState.CONTAINER_EXITED, shim, exit);
        }
        if (shim.isEmpty() || !alive(shim.get().shimPid())) {
            // No exit record and no shim: it died without a word (or the node rebooted).
            return new ContainerStates(ContainerState.CONTAINER_UNKNOWN, shim, exit);
        }
        ContainerState state = switch (shim.get().status()) {
            case "created" -> ContainerState.CONTAINER_CREATED;
            case "running" -> ContainerState.CONTAINER_RUNNING;
            case "stopped" -> ContainerState.CONTAINER_EXITED;
            default -> ContainerState.CONTAINER_UNKNOWN;
        };
        return new ContainerStates(state, shim, exit);
    }

    /** Running, not a zombie: a killed shim waits as a zombie until the host's init reaps it, sometimes late. */
    private static boolean alive(int pid) {
        if (!Syscalls.alive(pid)) {
            return false;
        }
        try {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", String.valueOf(pid), "stat"));
            return !stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
