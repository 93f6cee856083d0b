package io.coracle.sys;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;

/**
 * Whether a known process still runs, answered from a pidfd (pidfd_open(2), then poll(2) with no
 * wait: readable once the process has exited) instead of reading /proc on every call. The pidfd is
 * opened once per process, after the caller's own check (start time, not a zombie) proved it is the
 * process it recorded, so a reused PID is never mistaken for it; it is closed when the process exits.
 */
public final class PidFds {
    private static final long SYS_PIDFD_OPEN = 434; // the same on x86-64 and arm64
    private static final short POLLIN = 0x1;
    private static final int MAX_DEAD = 4096;

    /** libc functions jnr-posix does not bind. */
    public interface LibC {
        @SaveError
        long syscall(long number, long pid, long flags);

        @SaveError
        int poll(@In @Out int[] pollfd, long nfds, int timeoutMillis);

        int close(int fd);
    }

    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");

    /**
     * A process as its owner identifies it: PID and start time. equals/hashCode are written out: a
     * record's generated ones go through method handles, which the daemon's C1-only JIT does not
     * inline (they showed in read-path profiles).
     */
    private record Key(int pid, long startTime) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.pid == pid && k.startTime == startTime;
        }

        @Override
        public int hashCode() {
            return 31 * pid + Long.hashCode(startTime);
        }
    }

    private static final Map<Key, Integer> OPEN = new ConcurrentHashMap<>();
    private static final Map<Key, Boolean> DEAD = new ConcurrentHashMap<>();

    private PidFds() {}

    /**
     * Whether process {@code pid} (started at {@code startTime}) runs. {@code verify} is the slow,
     * exact check (e.g. /proc/PID/stat); it runs only until a pidfd is held for the process, and
     * where pidfds are unavailable.
     */
    public static boolean running(int pid, long startTime, BooleanSupplier verify) {
        Key key = new Key(pid, startTime);
        if (DEAD.containsKey(key)) {
            return false;
        }
        Integer fd = OPEN.get(key);
        if (fd == null) {
            if (!verify.getAsBoolean()) {
                markDead(key);
                return false;
            }
            long opened = LIBC.syscall(SYS_PIDFD_OPEN, pid, 0);
            if (opened < 0) {
                return verify.getAsBoolean(); // ENOSYS on old kernels; ESRCH: gone meanwhile
            }
            // Opened after the check: if the PID was reused in between, the new process is not ours.
            if (!verify.getAsBoolean()) {
                LIBC.close((int) opened);
                markDead(key);
                return false;
            }
            Integer raced = OPEN.putIfAbsent(key, (int) opened);
            if (raced != null) {
                LIBC.close((int) opened);
            }
            fd = OPEN.get(key);
            if (fd == null) {
                return running(pid, startTime, verify);
            }
        }
        int[] pollfd = {fd, POLLIN};
        int n = LIBC.poll(pollfd, 1, 0);
        if (n == 0) {
            return true;
        }
        if (n < 0) {
            return verify.getAsBoolean(); // EINTR and the like: ask the slow way
        }
        if (OPEN.remove(key, fd)) {
            LIBC.close(fd);
        }
        markDead(key);
        return false;
    }

    /** Closes the pidfd held for a process its owner no longer asks about (its object was removed). */
    public static void forget(int pid, long startTime) {
        Key key = new Key(pid, startTime);
        DEAD.remove(key);
        Integer fd = OPEN.remove(key);
        if (fd != null) {
            LIBC.close(fd);
        }
    }

    private static void markDead(Key key) {
        if (DEAD.size() >= MAX_DEAD) {
            DEAD.clear(); // only a cache: forgotten entries are checked the slow way again
        }
        DEAD.put(key, Boolean.TRUE);
    }
}
