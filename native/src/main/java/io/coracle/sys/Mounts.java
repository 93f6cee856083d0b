package io.coracle.sys;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import jnr.ffi.LibraryLoader;
import jnr.ffi.LibraryOption;
import jnr.ffi.Runtime;

/**
 * mount(2) and umount2(2) in the host's mount namespace, through jnr-ffi: bind mounts that keep a
 * pod's namespaces (/proc/PID/ns/*) alive, and a pod's /dev/shm tmpfs. Safe from the multi-threaded
 * JVM: these calls change no per-thread state.
 */
public final class Mounts {
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

    /** mount --bind source target (target must exist: a file for a file, a directory for one). */
    public static void bind(Path source, Path target) throws IOException {
        if (LIBC.mount(source.toString(), target.toString(), "none", MS_BIND, null) != 0) {
            throw error("mount --bind " + source + " " + target);
        }
    }

    /** Bind-mounts a namespace file (e.g. /proc/PID/ns/net) onto target, creating the empty file. */
    public static void bindNamespace(Path nsFile, Path target) throws IOException {
        if (!Files.exists(target)) {
            Files.createFile(target);
        }
        bind(nsFile, target);
    }

    /** A tmpfs of {@code sizeBytes} (nosuid, nodev, noexec, mode 1777) at target, created if needed. */
    public static void tmpfs(Path target, long sizeBytes) throws IOException {
        Files.createDirectories(target);
        if (LIBC.mount("shm", target.toString(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "mode=1777,size=" + sizeBytes) != 0) {
            throw error("mount tmpfs on " + target);
        }
    }

    /** umount target once; lazily (MNT_DETACH) when {@code detach}. Fails when target is no mount point. */
    public static void unmount(Path target, boolean detach) throws IOException {
        if (LIBC.umount2(target.toString(), detach ? MNT_DETACH : 0) != 0) {
            throw error("umount " + target);
        }
    }

    /** Unmounts every mount stacked at target, lazily; not mounted or absent is fine. */
    public static void unmountAll(Path target) throws IOException {
        while (LIBC.umount2(target.toString(), MNT_DETACH) == 0) {
            // stacked mounts: unmount each
        }
        int errno = RUNTIME.getLastError();
        if (errno != EINVAL && errno != ENOENT) {
            throw error("umount " + target);
        }
    }

    /** Every mount point of this process's mount namespace. */
    public static Set<Path> mountPoints() throws IOException {
        Set<Path> out = new HashSet<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            if (f.length > 4) {
                out.add(Path.of(f[4].replace("\\040", " ")));
            }
        }
        return out;
    }

    public static boolean mounted(Path target) throws IOException {
        return mountPoints().contains(target.toAbsolutePath());
    }

    private static IOException error(String what) {
        int errno = RUNTIME.getLastError();
        return new IOException(what + ": " + LIBC.strerror(errno) + " (errno " + errno + ")");
    }
}
