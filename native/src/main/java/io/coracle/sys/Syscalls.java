package io.coracle.sys;

import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;

/** The few system calls the daemon makes itself (through jnr-posix). */
public final class Syscalls {
    private static final POSIX POSIX = POSIXFactory.getNativePOSIX();

    private Syscalls() {}

    /** kill(2); returns false when the process does not exist (ESRCH). */
    public static boolean kill(int pid, int signal) {
        return POSIX.kill(pid, signal) == 0;
    }

    /** Whether a process with this PID exists (a zombie counts until reaped). */
    public static boolean alive(int pid) {
        return POSIX.kill(pid, 0) == 0 || POSIX.errno() == jnr.constants.platform.Errno.EPERM.intValue();
    }

    public static int getpid() {
        return POSIX.getpid();
    }
}
