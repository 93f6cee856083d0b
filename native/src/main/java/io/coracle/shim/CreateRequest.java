package io.coracle.shim;

import java.nio.file.Path;

/**
 * What {@code coracle-shim create} needs: the bundle (with config.json), the state directory
 * (the shim's sockets and records; must be short enough for a unix socket path), the CRI log
 * file (null: output discarded), whether the container gets a stdin pipe, and the OCI runtime
 * that runs the bundle under the shim (null: the shim builds the container itself), and the cgroup
 * the shim moves into out of the daemon's, so that killing the daemon's cgroup spares it (the pod's
 * pause leaf, a cgroupfs path; null: it stays).
 */
public record CreateRequest(Path bundle, Path stateDir, Path logFile, boolean stdin, Path runtime, String shimCgroup,
                            Path restorePlan) {
    /** restorePlan: CRIU restores the process at start from this plan (restore.h); null: the shim builds it. */
    public CreateRequest(Path bundle, Path stateDir, Path logFile, boolean stdin, Path runtime, String shimCgroup) {
        this(bundle, stateDir, logFile, stdin, runtime, shimCgroup, null);
    }

    public CreateRequest(Path bundle, Path stateDir, Path logFile, boolean stdin, Path runtime) {
        this(bundle, stateDir, logFile, stdin, runtime, null, null);
    }

    public CreateRequest(Path bundle, Path stateDir, Path logFile, boolean stdin) {
        this(bundle, stateDir, logFile, stdin, null, null, null);
    }
}
