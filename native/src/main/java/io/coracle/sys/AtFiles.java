package io.coracle.sys;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jnr.constants.platform.Errno;
import jnr.constants.platform.OpenFlags;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.Pinned;
import jnr.ffi.annotations.SaveError;

/**
 * File system calls on descriptors, for trees whose content is hostile (image layers): every name is
 * one component or a path resolved beneath a directory descriptor, and no call follows a symlink.
 * Paths below a directory are opened with {@code openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)}; the last component of every other call is never followed
 * ({@code O_NOFOLLOW}, {@code AT_SYMLINK_NOFOLLOW}, or the call does not follow by definition:
 * mkdirat, symlinkat, mknodat, linkat without AT_SYMLINK_FOLLOW, unlinkat). Metadata is set through
 * the created object's own descriptor. Failures are {@link ErrnoException}s naming the call, the name
 * and the errno. Descriptors are plain ints, opened close-on-exec; the caller closes them.
 */
public final class AtFiles {
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    private static final int O_CREAT = OpenFlags.O_CREAT.intValue();
    private static final int O_EXCL = OpenFlags.O_EXCL.intValue();
    private static final int O_NOFOLLOW = OpenFlags.O_NOFOLLOW.intValue();
    public static final int O_DIRECTORY = OpenFlags.O_DIRECTORY.intValue();
    private static final int O_CLOEXEC = OpenFlags.O_CLOEXEC.intValue();
    /** O_PATH (jnr-constants lacks it); the same value on x86_64 and arm64. */
    public static final int O_PATH = 010000000;

    private static final int AT_FDCWD = -100;
    private static final int AT_SYMLINK_NOFOLLOW = 0x100;
    private static final int AT_REMOVEDIR = 0x200;
    private static final int AT_EMPTY_PATH = 0x1000;
    private static final long RESOLVE_NO_XDEV = 0x01;
    private static final long RESOLVE_NO_MAGICLINKS = 0x02;
    private static final long RESOLVE_NO_SYMLINKS = 0x04;
    private static final long RESOLVE_BENEATH = 0x08;
    /** openat2(2): the same number on every architecture (added in Linux 5.6). */
    private static final long SYS_OPENAT2 = 437;

    public static final int S_IFMT = 0170000;
    public static final int S_IFDIR = 0040000;
    public static final int S_IFREG = 0100000;
    public static final int S_IFLNK = 0120000;
    public static final int S_IFCHR = 0020000;
    public static final int S_IFBLK = 0060000;
    public static final int S_IFIFO = 0010000;

    public static final int ENOENT = Errno.ENOENT.intValue();
    public static final int EEXIST = Errno.EEXIST.intValue();
    public static final int EISDIR = Errno.EISDIR.intValue();
    public static final int ENOTDIR = Errno.ENOTDIR.intValue();
    public static final int ELOOP = Errno.ELOOP.intValue();
    public static final int EINVAL = Errno.EINVAL.intValue();
    public static final int EPERM = Errno.EPERM.intValue();
    private static final int EINTR = Errno.EINTR.intValue();

    private static final int PATH_MAX = 4096;

    /** libc functions, each saving errno. */
    public interface LibC {
        @SaveError long syscall(long number, int dirfd, @In byte[] path, @In long[] how, long size);
        @SaveError int openat(int dirfd, @In byte[] path, int flags, int mode);
        @SaveError int close(int fd);
        @SaveError int mkdirat(int dirfd, @In byte[] path, int mode);
        @SaveError int symlinkat(@In byte[] target, int dirfd, @In byte[] path);
        @SaveError int mknodat(int dirfd, @In byte[] path, int mode, long dev);
        @SaveError int linkat(int olddirfd, @In byte[] oldpath, int newdirfd, @In byte[] newpath, int flags);
        @SaveError int unlinkat(int dirfd, @In byte[] path, int flags);
        @SaveError int fchownat(int dirfd, @In byte[] path, int uid, int gid, int flags);
        @SaveError int fchown(int fd, int uid, int gid);
        @SaveError int fchmod(int fd, int mode);
        @SaveError int chmod(@In byte[] path, int mode);
        @SaveError int fsetxattr(int fd, @In byte[] name, @In byte[] value, long size, int flags);
        @SaveError int setxattr(@In byte[] path, @In byte[] name, @In byte[] value, long size, int flags);
        @SaveError int utimensat(int dirfd, @In byte[] path, @In long[] times, int flags);
        @SaveError int futimens(int fd, @In long[] times);
        @SaveError int statx(int dirfd, @In byte[] path, int flags, int mask, @Out byte[] buf);
        @SaveError long readlinkat(int dirfd, @In byte[] path, @Out byte[] buf, long size);
        @SaveError long read(int fd, @Pinned @Out byte[] buf, long count);
        @SaveError long write(int fd, @Pinned @In byte[] buf, long count);
        @SaveError long getdents64(int fd, @Out byte[] buf, long count);
        @SaveError int syncfs(int fd);
    }

    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    private static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(LIBC);
    private static final byte[] EMPTY = {0};

    private AtFiles() {}

    /** A failed call: {@link #errno()} tells callers which failures they expect. */
    public static final class ErrnoException extends IOException {
        private final int errno;

        ErrnoException(String call, String name, int errno) {
            super(call + " " + name + ": " + describe(errno));
            this.errno = errno;
        }

        public int errno() {
            return errno;
        }
    }

    /** What statx says about one object (never through a symlink). */
    public record Stat(int mode, int uid, int gid, long ino, int devMajor, int devMinor, int rdevMajor, int rdevMinor, long size) {
        public int type() {
            return mode & S_IFMT;
        }

        public boolean isDirectory() {
            return type() == S_IFDIR;
        }

        public boolean isSymlink() {
            return type() == S_IFLNK;
        }

        public boolean isRegular() {
            return type() == S_IFREG;
        }

        /** Same inode on the same device. */
        public boolean sameObject(Stat o) {
            return ino == o.ino && devMajor == o.devMajor && devMinor == o.devMinor;
        }
    }

    /** Opens a directory the daemon itself named (not from hostile input), without following its last component. */
    public static int openDirectory(Path dir, int flags) throws ErrnoException {
        int fd = LIBC.openat(AT_FDCWD, c(dir.toString()), flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        return check(fd, "open", dir.toString());
    }

    /**
     * Opens {@code rel} ("a/b/c", or "." for the directory itself) beneath {@code dirfd}: no symlink
     * (ELOOP), no "..", no magic link, no mount crossing anywhere on the way.
     */
    public static int openBeneath(int dirfd, String rel, int flags) throws ErrnoException {
        long[] how = {flags | O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
        long fd;
        do {
            fd = LIBC.syscall(SYS_OPENAT2, dirfd, c(rel), how, 24);
        } while (fd < 0 && errno() == EINTR);
        return check((int) fd, "openat2", rel);
    }

    /** openat on one component, never following it; with {@code O_CREAT} the file must not exist (O_EXCL). */
    public static int open(int dirfd, String name, int flags, int mode) throws ErrnoException {
        int f = flags | O_NOFOLLOW | O_CLOEXEC;
        if ((flags & O_CREAT) != 0) {
            f |= O_EXCL;
        }
        return check(LIBC.openat(dirfd, c(name), f, mode), "openat", name);
    }

    /**
     * Opens {@code name} for reading only if it is a regular file: an {@code O_PATH} descriptor first, its
     * type checked, then reopened through its {@code /proc/self/fd} link. A FIFO or device node that a
     * running container swaps in is never opened (no blocking open, no device's open side effects).
     * ENOENT when it is gone; EINVAL when it is not a regular file (a symlink included: never followed).
     */
    public static int openRegularForReading(int dirfd, String name) throws ErrnoException {
        int path = open(dirfd, name, O_PATH, 0);
        try {
            if (!stat(path, "").isRegular()) {
                throw new ErrnoException("open", name + " (not a regular file)", EINVAL);
            }
            return check(LIBC.openat(AT_FDCWD, c("/proc/self/fd/" + path), O_RDONLY | O_CLOEXEC, 0), "open", name);
        } finally {
            close(path);
        }
    }

    /** Creates a regular file {@code name} for writing, failing with EEXIST when anything has that name. */
    public static int createFile(int dirfd, String name, int mode) throws ErrnoException {
        return open(dirfd, name, O_WRONLY | O_CREAT, mode);
    }

    public static void close(int fd) {
        if (fd >= 0) {
            LIBC.close(fd);
        }
    }

    public static void mkdir(int dirfd, String name, int mode) throws ErrnoException {
        check(LIBC.mkdirat(dirfd, c(name), mode), "mkdirat", name);
    }

    public static void symlink(String target, int dirfd, String name) throws ErrnoException {
        check(LIBC.symlinkat(c(target), dirfd, c(name)), "symlinkat", name);
    }

    /** mknodat; {@code mode} carries the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
    public static void mknod(int dirfd, String name, int mode, int major, int minor) throws ErrnoException {
        long dev = ((long) (major & 0xfff) << 8) | (minor & 0xff) | ((long) (minor & ~0xff) << 12) | ((long) (major & ~0xfff) << 32);
        check(LIBC.mknodat(dirfd, c(name), mode, dev), "mknodat", name);
    }

    /** A hard link to the object named {@code oldName} itself (a symlink is linked, not followed). */
    public static void link(int oldDirfd, String oldName, int newDirfd, String newName) throws ErrnoException {
        check(LIBC.linkat(oldDirfd, c(oldName), newDirfd, c(newName), 0), "linkat", oldName + " -> " + newName);
    }

    /** unlinkat of a non-directory (EISDIR for a directory) or, with {@code dir}, of an empty directory. */
    public static void unlink(int dirfd, String name, boolean dir) throws ErrnoException {
        check(LIBC.unlinkat(dirfd, c(name), dir ? AT_REMOVEDIR : 0), "unlinkat", name);
    }

    /** Changes the owner of {@code name} itself, a symlink included. */
    public static void chown(int dirfd, String name, int uid, int gid) throws ErrnoException {
        check(LIBC.fchownat(dirfd, c(name), uid, gid, AT_SYMLINK_NOFOLLOW), "fchownat", name + " " + uid + ":" + gid);
    }

    public static void fchown(int fd, int uid, int gid, String what) throws ErrnoException {
        check(LIBC.fchown(fd, uid, gid), "fchown", what + " " + uid + ":" + gid);
    }

    public static void fchmod(int fd, int mode, String what) throws ErrnoException {
        check(LIBC.fchmod(fd, mode & 07777), "fchmod", what + " " + Integer.toOctalString(mode & 07777));
    }

    /**
     * chmod of the object an {@code O_PATH} descriptor holds (a device node or FIFO, which must not be
     * opened for reading), through its {@code /proc/self/fd} link: the kernel resolves that to the
     * very inode, never to a name.
     */
    public static void chmodPathFd(int opathFd, int mode, String what) throws ErrnoException {
        check(LIBC.chmod(c("/proc/self/fd/" + opathFd), mode & 07777), "chmod", what + " " + Integer.toOctalString(mode & 07777));
    }

    public static void fsetxattr(int fd, String name, byte[] value, String what) throws ErrnoException {
        check(LIBC.fsetxattr(fd, c(name), value, value.length, 0), "fsetxattr", what + " " + name);
    }

    /** setxattr on the object an {@code O_PATH} descriptor holds, through its {@code /proc/self/fd} link. */
    public static void setxattrPathFd(int opathFd, String name, byte[] value, String what) throws ErrnoException {
        check(LIBC.setxattr(c("/proc/self/fd/" + opathFd), c(name), value, value.length, 0), "setxattr", what + " " + name);
    }

    /** Sets atime and mtime of {@code name} itself, a symlink included. */
    public static void utimes(int dirfd, String name, long seconds, int nanos) throws ErrnoException {
        check(LIBC.utimensat(dirfd, c(name), new long[] {seconds, nanos, seconds, nanos}, AT_SYMLINK_NOFOLLOW), "utimensat", name);
    }

    public static void futimes(int fd, long seconds, int nanos, String what) throws ErrnoException {
        check(LIBC.futimens(fd, new long[] {seconds, nanos, seconds, nanos}), "futimens", what);
    }

    /** statx of {@code name} itself (not followed), or of {@code dirfd}'s own object when name is "". */
    public static Stat stat(int dirfd, String name) throws ErrnoException {
        byte[] b = new byte[256];
        int flags = AT_SYMLINK_NOFOLLOW | (name.isEmpty() ? AT_EMPTY_PATH : 0);
        check(LIBC.statx(dirfd, name.isEmpty() ? EMPTY : c(name), flags, 0x7ff /* STATX_BASIC_STATS */, b), "statx", name);
        // struct statx: uid @20, gid @24, mode (u16) @28, ino @32, size @40, rdev major/minor @128/132, dev @136/140
        ByteBuffer s = ByteBuffer.wrap(b).order(ByteOrder.nativeOrder());
        return new Stat(s.getShort(28) & 0xffff, s.getInt(20), s.getInt(24), s.getLong(32),
                s.getInt(136), s.getInt(140), s.getInt(128), s.getInt(132), s.getLong(40));
    }

    /** The target of symlink {@code name}. */
    public static String readlink(int dirfd, String name) throws ErrnoException {
        byte[] b = new byte[PATH_MAX];
        long n = LIBC.readlinkat(dirfd, c(name), b, b.length);
        check((int) n, "readlinkat", name);
        if (n >= b.length) {
            throw new ErrnoException("readlinkat", name, Errno.ENAMETOOLONG.intValue());
        }
        return new String(b, 0, (int) n, StandardCharsets.UTF_8);
    }

    /** read(2) into the start of {@code buf}; 0 at end of file. */
    public static int read(int fd, byte[] buf, int len, String what) throws ErrnoException {
        long n;
        do {
            n = LIBC.read(fd, buf, len);
        } while (n < 0 && errno() == EINTR);
        return check((int) n, "read", what);
    }

    /** Writes {@code buf[0..len)} fully. The buffer's content may be shifted on a short write. */
    public static void writeFully(int fd, byte[] buf, int len, String what) throws ErrnoException {
        int left = len;
        while (left > 0) {
            long n = LIBC.write(fd, buf, left);
            if (n < 0) {
                if (errno() == EINTR) {
                    continue;
                }
                check(-1, "write", what);
            }
            left -= (int) n;
            if (left > 0) {
                System.arraycopy(buf, (int) n, buf, 0, left);
            }
        }
    }

    /**
     * Removes {@code name} beneath {@code dirfd}, with everything under it when it is a directory,
     * never following a symlink. Returns what was removed: 0 nothing (absent), 1 a non-directory,
     * 2 a directory tree.
     */
    public static int removeTree(int dirfd, String name) throws ErrnoException {
        int r = LIBC.unlinkat(dirfd, c(name), 0);
        if (r == 0) {
            return 1;
        }
        int err = errno();
        if (err == ENOENT) {
            return 0;
        }
        if (err != EISDIR) {
            throw new ErrnoException("unlinkat", name, err);
        }
        int fd = open(dirfd, name, O_RDONLY | O_DIRECTORY, 0);
        try {
            for (String child : list(fd, name)) {
                removeTree(fd, child);
            }
        } finally {
            close(fd);
        }
        unlink(dirfd, name, true);
        return 2;
    }

    /** The names in an open directory, without "." and "..". */
    public static List<String> list(int dirFd, String what) throws ErrnoException {
        List<String> names = new ArrayList<>();
        byte[] b = new byte[32768];
        while (true) {
            long n = LIBC.getdents64(dirFd, b, b.length);
            check((int) n, "getdents64", what);
            if (n == 0) {
                return names;
            }
            // struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
            ByteBuffer d = ByteBuffer.wrap(b).order(ByteOrder.nativeOrder());
            for (int pos = 0; pos < n; ) {
                int reclen = d.getShort(pos + 16) & 0xffff;
                int start = pos + 19;
                int end = start;
                while (end < pos + reclen && b[end] != 0) {
                    end++;
                }
                String child = new String(b, start, end - start, StandardCharsets.UTF_8);
                if (!child.equals(".") && !child.equals("..")) {
                    names.add(child);
                }
                pos += reclen;
            }
        }
    }

    /** Deletes a tree the daemon itself named, without following any symlink in it; absent is fine. */
    public static void deleteTree(Path p) throws IOException {
        Path abs = p.toAbsolutePath().normalize();
        Path parent = abs.getParent();
        if (parent == null) {
            throw new IOException("refusing to delete " + p);
        }
        int fd;
        try {
            fd = openDirectory(parent, O_PATH);
        } catch (ErrnoException e) {
            if (e.errno() == ENOENT) {
                return;
            }
            throw e;
        }
        try {
            removeTree(fd, abs.getFileName().toString());
        } finally {
            close(fd);
        }
    }

    /** Flushes the file system holding {@code p} to disk. */
    public static void syncfs(Path p) throws ErrnoException {
        int fd = openDirectory(p, O_RDONLY);
        try {
            check(LIBC.syncfs(fd), "syncfs", p.toString());
        } finally {
            close(fd);
        }
    }

    private static int errno() {
        return RUNTIME.getLastError();
    }

    private static int check(int result, String call, String name) throws ErrnoException {
        if (result < 0) {
            throw new ErrnoException(call, name, errno());
        }
        return result;
    }

    private static String describe(int errno) {
        Errno e = Errno.valueOf(errno);
        return e == null || e == Errno.__UNKNOWN_CONSTANT__ ? "errno " + errno : e.name() + " (" + e + ")";
    }

    /** A NUL-terminated UTF-8 name; a NUL inside would cut it short, so it is refused. */
    private static byte[] c(String s) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[u.length + 1];
        for (int i = 0; i < u.length; i++) {
            if (u[i] == 0) {
                throw new IllegalArgumentException("NUL in file name " + s.replace('\0', '?'));
            }
            out[i] = u[i];
        }
        return out;
    }
}
