package io.coracle.runtime.streaming;

import io.coracle.cri.CriError;
import io.coracle.cri.v1.AttachRequest;
import io.coracle.cri.v1.ExecRequest;
import io.coracle.runtime.container.ContainerRecord;
import io.coracle.runtime.container.ExecSyncRunner;
import io.coracle.sandbox.Sandbox;
import io.coracle.sandbox.SandboxStore;
import io.coracle.shim.ExecRunner;
import io.coracle.shim.ShimClient;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/** What a streaming request reaches, looked up again when the client connects (things change in a minute). */
final class StreamTargets {
    private final SandboxStore sandboxes;
    private final ExecSyncRunner processes;
    private final ExecRunner runner;

    StreamTargets(SandboxStore sandboxes, ExecSyncRunner processes, ExecRunner runner) {
        this.sandboxes = sandboxes;
        this.processes = processes;
        this.runner = runner;
    }

    StreamedCommand exec(ExecRequest r) {
        try {
            ContainerRecord c = running(r.getContainerId());
            return new ExecCommand(runner, new ShimClient(c.stateDir()), processes.process(c, r.getCmdList(), r.getTty()),
                    r.getTty(), r.getStdin(), c.id());
        } catch (IOException e) {
            return failed(e.getMessage());
        }
    }

    StreamedCommand attach(AttachRequest r) {
        try {
            ContainerRecord c = running(r.getContainerId());
            return new AttachCommand(new ShimClient(c.stateDir()).attachSocket(), c.containerConfig().getStdinOnce(),
                    c.containerConfig().getTty(), r.getStdin());
        } catch (IOException e) {
            return failed(e.getMessage());
        }
    }

    /** The pod, when it is still ready. */
    Optional<Sandbox> readyPod(String podId) {
        return sandboxes.get(podId).filter(Sandbox::ready);
    }

    private ContainerRecord running(String id) throws IOException {
        try {
            return processes.running(id);
        } catch (CriError e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** A command that fails as it starts, so the client hears why on the error stream. */
    private static StreamedCommand failed(String why) {
        return new StreamedCommand() {
            @Override
            public void start(OutputSink stdout, OutputSink stderr) throws IOException {
                throw new IOException(why);
            }

            @Override
            public CommandOutcome awaitEnd() {
                return CommandOutcome.failed(why);
            }

            @Override
            public void writeStdin(byte[] data) {
            }

            @Override
            public void endStdin() {
            }

            @Override
            public void resize(int width, int height) {
            }

            @Override
            public void abandon() {
            }
        };
    }

    static Path netns(Sandbox pod) {
        return pod.hostNetwork() ? null : pod.netnsPath();
    }
}
