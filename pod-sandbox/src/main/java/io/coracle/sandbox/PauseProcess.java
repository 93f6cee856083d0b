package io.coracle.sandbox;

import io.coracle.sys.PidFds;
import io.coracle.sys.Syscalls;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** A pod's pause process, identified by PID and start time so a reused PID is not mistaken for it. */
public record PauseProcess(int pid, long startTime) {
    private static final int SIGKILL = 9;

    /** The process's start time (clock ticks after boot, field 22 of /proc/PID/stat), or -1 if it is gone. */
    static long startTimeOf(int pid) {
        String stat = stat(pid);
        if (stat == null) {
            return -1;
        }
        // Fields after the ")" of comm: state is field 3, starttime field 22.
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[19]);
    }

    private static String stat(int pid) {
        try {
            return Files.readString(Path.of("/proc", String.valueOf(pid), "stat"));
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            return null;
        }
    }

    /** Running (not a zombie) and the same process as recorded: /proc is read once, then a pidfd answers. */
    public boolean alive() {
        return pid > 0 && PidFds.running(pid, startTime, this::aliveInProc);
    }

    private boolean aliveInProc() {
        String stat = stat(pid);
        if (stat == null) {
            return false;
        }
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return !f[0].equals("Z") && !f[0].equals("X") && Long.parseLong(f[19]) == startTime;
    }

    /** SIGKILL, then wait until it is gone or a zombie (the host's init reaps it, sometimes late). */
    void kill(long timeoutMillis) throws IOException {
        if (!alive()) {
            return;
        }
        Syscalls.kill(pid, SIGKILL);
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000;
        while (alive()) {
            if (System.nanoTime() > deadline) {
                throw new IOException("pause process " + pid + " still running " + timeoutMillis + " ms after SIGKILL");
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while stopping pause process " + pid, e);
            }
        }
    }
}
