package io.coracle.sys;

import java.io.IOException;
import java.nio.file.Path;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * Bind mounts from the daemon (e.g. keeping a pod's /proc/PID/ns/net at /run/coracle/netns/ID).
 * Safe from a multi-threaded JVM: mounts in the daemon's own mount namespace change nothing
 * per thread.
 */
public final class Mounts {
    /** The two libc calls, through jnr-ffi. */
    public interface LibC {
        int mount(String source, String target, String fstype, long flags, Pointer data);

        int umount2(String target, int flags);
    }

    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    private static final Runtime RUNTIME = Runtime.getRuntime(LIBC);
    private static final long MS_BIND = 4096;
    private static final int MNT_DETACH = 2;

    private Mounts() {}

    /** mount --bind source target (target must exist: a file for a file, a directory for one). */
    public static void bind(Path source, Path target) throws IOException {
        if (LIBC.mount(source.toString(), target.toString(), null, MS_BIND, null) != 0) {
            throw new IOException("mount --bind " + source + " " + target + ": " + errno());
        }
    }

    /** umount target; lazily (MNT_DETACH) when busy is fine. */
    public static void unmount(Path target, boolean detach) throws IOException {
        if (LIBC.umount2(target.toString(), detach ? MNT_DETACH : 0) != 0) {
            throw new IOException("umount " + target + ": " + errno());
        }
    }

    private static String errno() {
        int e = LastError.getLastError(RUNTIME);
        jnr.constants.platform.Errno err = jnr.constants.platform.Errno.valueOf(e);
        return err.name() + " (" + err + ")";
    }
}
