package io.coracle.sys;

import java.nio.file.Path;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.SaveError;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;

/** The few system calls the daemon makes itself (through jnr-posix). */
public final class Syscalls {
    private static final POSIX POSIX = POSIXFactory.getNativePOSIX();
    private static final int ENODATA = 61;

    /** libc functions jnr-posix does not bind. */
    public interface LibC {
        @SaveError
        long lgetxattr(String path, String name, byte[] value, long size);
    }

    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    private static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(LIBC);

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

    /** mkfifo(3); an IOException names the path and errno. */
    public static void mkfifo(java.nio.file.Path path, int mode) throws java.io.IOException {
        if (POSIX.mkfifo(path.toString(), mode) != 0) {
            jnr.constants.platform.Errno err = jnr.constants.platform.Errno.valueOf(POSIX.errno());
            throw new java.io.IOException("mkfifo " + path + ": " + err.name() + " (" + err + ")");
        }
    }

    /**
     * Writes to a FIFO without ever blocking: false when no reader has it open yet (ENXIO) or
     * the pipe is full.
     */
    public static boolean writeFifo(java.nio.file.Path path, byte[] data) {
        int fd = POSIX.open(path.toString(), jnr.constants.platform.OpenFlags.O_WRONLY.intValue()
                | jnr.constants.platform.OpenFlags.O_NONBLOCK.intValue(), 0);
        if (fd < 0) {
            return false;
        }
        try {
            return POSIX.write(fd, data, data.length) == data.length;
        } finally {
            POSIX.close(fd);
        }
    }

    /**
     * lgetxattr(2) of an extended attribute of at most {@code max} bytes, never following a symlink;
     * null when the file has no such attribute.
     */
    public static byte[] lgetxattr(Path path, String name, int max) throws java.io.IOException {
        byte[] buf = new byte[max];
        long n = LIBC.lgetxattr(path.toString(), name, buf, buf.length);
        if (n < 0) {
            int errno = RUNTIME.getLastError();
            if (errno == ENODATA) {
                return null;
            }
            jnr.constants.platform.Errno err = jnr.constants.platform.Errno.valueOf(errno);
            throw new java.io.IOException("lgetxattr " + path + " " + name + ": " + err.name() + " (" + err + ")");
        }
        return java.util.Arrays.copyOf(buf, (int) n);
    }
}
