package io.coracle.shim;

import io.coracle.sys.Syscalls;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** An interactive exec: its process (stdio of the exec'd process) and, with a tty, the resize FIFO. */
public record ExecSession(java.lang.Process process, Path resizeFifo) {
    /** Resizes the exec's terminal; false without a tty, or before the shim is listening. */
    public boolean resize(int rows, int cols) {
        return resizeFifo != null
                && Syscalls.writeFifo(resizeFifo, (rows + " " + cols + "\n").getBytes(StandardCharsets.US_ASCII));
    }
}
