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
        if (shim.isEmpty() || !Syscalls.alive(shim.get().shimPid())) {
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
}
