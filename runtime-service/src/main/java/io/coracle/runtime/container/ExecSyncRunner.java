package io.coracle.runtime.container;

import io.coracle.cri.CriError;
import com.google.protobuf.ByteString;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.oci.OciJson;
import io.coracle.oci.Process;
import io.coracle.oci.Spec;
import io.coracle.shim.ExecResult;
import io.coracle.shim.ExecRunner;
import io.coracle.shim.ShimClient;
import java.io.IOException;
import java.time.Duration;

/**
 * ExecSync: runs a command in a running container as its own process would run (user, env, cwd,
 * capabilities), returns its output (stdout and stderr within {@link #OUTPUT_LIMIT} together) and
 * exit code. A timeout kills the command and answers DEADLINE_EXCEEDED, which the kubelet reads as a
 * probe timeout.
 */
public final class ExecSyncRunner {
    /** Bound for "no timeout" (0), so no call can hang forever. */
    static final Duration UNBOUNDED = Duration.ofHours(24);
    /**
     * The kubelet receives CRI messages of at most 16 MiB; an answer above that fails on its side with
     * RESOURCE_EXHAUSTED (containerd caps each stream at 16 MiB and so can answer 32). Stdout and stderr
     * together stay below it, with 64 KiB left for the rest of the response (field tags, lengths, exit code).
     */
    public static final int OUTPUT_LIMIT = 16 * 1024 * 1024 - 64 * 1024;

    private final ContainerStore store;
    private final ExecRunner execs;

    public ExecSyncRunner(ContainerStore store, ExecRunner execs) {
        this.store = store;
        this.execs = execs;
    }

    /** The request's shape (cmd, timeout) is checked by the CRI edge's CriRequestValidator. */
    public ExecSyncResponse execSync(ExecSyncRequest request) {
        ContainerRecord r = running(request.getContainerId());
        Duration timeout = request.getTimeout() == 0 ? UNBOUNDED : Duration.ofSeconds(request.getTimeout());
        try {
            ExecResult result = execs.run(new ShimClient(r.stateDir()), process(r, request.getCmdList(), false), timeout,
                    OUTPUT_LIMIT);
            if (result.timedOut()) {
                throw new CriError(CriError.Kind.DEADLINE_EXCEEDED, "command " + request.getCmdList() + " timed out after "
                        + request.getTimeout() + "s in container " + r.id());
            }
            return ExecSyncResponse.newBuilder()
                    .setStdout(ByteString.copyFrom(result.stdout()))
                    .setStderr(ByteString.copyFrom(result.stderr()))
                    .setExitCode(result.exitCode())
                    .build();
        } catch (io.coracle.shim.ShimException e) {
            if (e.errorClass() == io.coracle.shim.ShimException.ErrorClass.INVALID) {
                throw CriError.invalid("cmd: " + io.coracle.sandbox.RequestChecks.show(request.getCmd(0))
                        + " cannot be run in container " + r.id() + ": " + e.getMessage());
            }
            throw new CriError(CriError.Kind.UNKNOWN, "exec in container " + r.id() + ": " + e.getMessage());
        } catch (IOException e) {
            throw new CriError(CriError.Kind.UNKNOWN, "exec in container " + r.id() + ": " + e.getMessage());
        }
    }

    /** The container by id or unique prefix: NOT_FOUND when unknown, FAILED_PRECONDITION unless it runs. */
    public ContainerRecord running(String id) {
        if (id.isEmpty()) {
            throw new CriError(CriError.Kind.INVALID, "container_id is empty");
        }
        ContainerRecord r = store.find(id).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND, "container " + id + " not found"));
        if (ContainerStates.of(r, store).state() != ContainerState.CONTAINER_RUNNING) {
            throw new CriError(CriError.Kind.PRECONDITION, "container " + r.id() + " is not running");
        }
        return r;
    }

    /**
     * The container's process (user, env, cwd, capabilities, limits) with the command swapped in;
     * with a tty, TERM=xterm unless the container sets TERM.
     */
    public Process process(ContainerRecord r, java.util.List<String> cmd, boolean tty) throws IOException {
        Spec spec = OciJson.read(store.containerDir(r.id()).resolve("bundle/config.json"), Spec.class);
        Process p = spec.process();
        java.util.List<String> env = p.env() == null ? java.util.List.of() : p.env();
        if (tty && env.stream().noneMatch(e -> e.startsWith("TERM="))) {
            env = new java.util.ArrayList<>(env);
            env.add("TERM=xterm");
        }
        return new Process(tty, null, p.user(), cmd, env, p.cwd(), p.capabilities(), p.rlimits(),
                p.noNewPrivileges(), null, p.apparmorProfile(), p.selinuxLabel());
    }
}
