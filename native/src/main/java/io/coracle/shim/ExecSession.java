package io.coracle.shim;

import io.coracle.sys.Syscalls;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * An interactive exec: its process (stdio of the exec'd process), with a tty the resize FIFO, and
 * the exec'd process's exit code once the shim is done (a ShimException when it could not run it).
 */
public record ExecSession(java.lang.Process process, Path resizeFifo, CompletableFuture<Integer> exitCode) {
    /** Resizes the exec's terminal; false without a tty, or before the shim is listening. */
    public boolean resize(int rows, int cols) {
        return resizeFifo != null
                && Syscalls.writeFifo(resizeFifo, (rows + " " + cols + "\n").getBytes(StandardCharsets.US_ASCII));
    }
}
