package io.coracle.image.unpack;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.SaveError;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;

/** The file syscalls Java lacks: lchown, mknod, lsetxattr, lutimes, chmod with special bits, syncfs. */
final class LinuxFiles {
    static final int S_IFCHR = 0020000;
    static final int S_IFBLK = 0060000;
    static final int S_IFIFO = 0010000;
    static final int EPERM = 1;
    static final int ENOTSUP = 95;

    /** libc functions jnr-posix does not bind. */
    public interface LibC {
        @SaveError
        int mknod(String path, int mode, long dev);

        @SaveError
        int lsetxattr(String path, String name, byte[] value, long size, int flags);

        @SaveError
        int syncfs(int fd);
    }

    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    private static final POSIX POSIX = POSIXFactory.getNativePOSIX();
    private static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(LIBC);

    private LinuxFiles() {
    }

    static int errno() {
        return RUNTIME.getLastError();
    }

    static void lchown(Path p, int uid, int gid) throws IOException {
        if (POSIX.lchown(p.toString(), uid, gid) != 0) {
            throw new IOException("lchown " + p + " " + uid + ":" + gid + ": errno " + POSIX.errno());
        }
    }

    static void chmod(Path p, int mode) throws IOException {
        if (POSIX.chmod(p.toString(), mode & 07777) != 0) {
            throw new IOException("chmod " + p + " " + Integer.toOctalString(mode) + ": errno " + POSIX.errno());
        }
    }

    /** mknod; returns 0 or the errno (callers decide whether EPERM is fatal). */
    static int mknod(Path p, int type, int mode, int major, int minor) {
        long dev = ((long) (major & 0xfff) << 8) | (minor & 0xff) | ((long) (minor & ~0xff) << 12) | ((long) (major & ~0xfff) << 32);
        return LIBC.mknod(p.toString(), type | (mode & 07777), dev) == 0 ? 0 : errno();
    }

    /** lsetxattr; returns 0 or the errno. */
    static int lsetxattr(Path p, String name, byte[] value) {
        return LIBC.lsetxattr(p.toString(), name, value, value.length, 0) == 0 ? 0 : errno();
    }

    static int lsetxattr(Path p, String name, String value) {
        return lsetxattr(p, name, value.getBytes(StandardCharsets.UTF_8));
    }

    /** Sets atime and mtime without following a symlink. */
    static void lutimes(Path p, long epochMillis) {
        long sec = Math.floorDiv(epochMillis, 1000L);
        long usec = Math.floorMod(epochMillis, 1000L) * 1000L;
        long[] tv = {sec, usec};
        POSIX.lutimes(p.toString(), tv, tv);
    }

    /** Flushes the filesystem holding {@code p} to disk. */
    static void syncfs(Path p) throws IOException {
        int fd = POSIX.open(p.toString(), 0 /* O_RDONLY */, 0);
        if (fd < 0) {
            throw new IOException("open " + p + ": errno " + POSIX.errno());
        }
        try {
            if (LIBC.syncfs(fd) != 0) {
                throw new IOException("syncfs " + p + ": errno " + errno());
            }
        } finally {
            POSIX.close(fd);
        }
    }
}
