package io.coracle.sandbox;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jnr.ffi.LibraryLoader;
import jnr.ffi.LibraryOption;
import jnr.ffi.Runtime;

/** mount(2) and umount2(2) through jnr-ffi: the netns bind mount and the pod's /dev/shm tmpfs. */
final class Mounts {
    private static final long MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_BIND = 4096;
    private static final int MNT_DETACH = 2, EINVAL = 22, ENOENT = 2;

    public interface LibC {
        int mount(String source, String target, String fstype, long flags, String data);

        int umount2(String target, int flags);

        String strerror(int errnum);
    }

    private static final LibC LIBC = LibraryLoader.create(LibC.class).option(LibraryOption.SaveError, true).load("c");
    private static final Runtime RUNTIME = Runtime.getRuntime(LIBC);

    private Mounts() {}

    /** Bind-mounts a namespace file (e.g. /proc/PID/ns/net) onto target, creating the empty file. */
    static void bindNamespace(Path nsFile, Path target) throws IOException {
        if (!Files.exists(target)) {
            Files.createFile(target);
        }
        if (LIBC.mount(nsFile.toString(), target.toString(), "none", MS_BIND, null) != 0) {
            throw error("bind mount " + nsFile + " on " + target);
        }
    }

    static void tmpfs(Path target, long sizeBytes) throws IOException {
        Files.createDirectories(target);
        if (LIBC.mount("shm", target.toString(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "mode=1777,size=" + sizeBytes) != 0) {
            throw error("mount tmpfs on " + target);
        }
    }

    /** Unmounts target (lazily, so a busy mount does not stop removal); not mounted or absent is fine. */
    static void unmount(Path target) throws IOException {
        while (LIBC.umount2(target.toString(), MNT_DETACH) == 0) {
            // stacked mounts: unmount each
        }
        int errno = Runtime.getRuntime(LIBC).getLastError();
        if (errno != EINVAL && errno != ENOENT) {
            throw error("unmount " + target);
        }
    }

    /** Every mount point of this mount namespace. */
    static java.util.Set<Path> mountPoints() throws IOException {
        java.util.Set<Path> out = new java.util.HashSet<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            if (f.length > 4) {
                out.add(Path.of(f[4].replace("\\040", " ")));
            }
        }
        return out;
    }

    static boolean mounted(Path target) throws IOException {
        String t = target.toAbsolutePath().toString();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            if (f.length > 4 && f[4].equals(t)) {
                return true;
            }
        }
        return false;
    }

    private static IOException error(String what) {
        int errno = RUNTIME.getLastError();
        return new IOException(what + ": " + LIBC.strerror(errno) + " (errno " + errno + ")");
    }
}
