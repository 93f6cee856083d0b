package io.coracle.runtime.checkpoint;

import io.coracle.sys.AtFiles;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * The container's changes to its image, from its overlay upperdir: {@code rootfs-diff.tar} (new and
 * changed directories, files and symlinks) and the paths it deleted (overlay whiteouts, 0/0 character
 * devices), which go to {@code deleted.files}. The upperdir is written by the running container:
 * every object is reached through descriptors, one no-follow component at a time, so a symlink the
 * container plants is archived as a symlink and never followed on the host.
 */
public final class RootfsDiff {
    static final int MAX_ENTRIES = 1_000_000;
    static final int MAX_DEPTH = 512;

    private final TarArchiveOutputStream tar;
    private final List<String> deleted = new ArrayList<>();
    private final byte[] buf = new byte[64 * 1024];
    private int entries;

    private RootfsDiff(OutputStream out) {
        tar = new TarArchiveOutputStream(out);
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
    }

    /** Writes the tar of {@code upperFd}'s tree to {@code out}; returns the deleted paths ("/etc/motd"). */
    public static List<String> write(int upperFd, OutputStream out) throws IOException {
        RootfsDiff d = new RootfsDiff(out);
        d.walk(upperFd, "", 0);
        d.tar.finish();
        return List.copyOf(d.deleted);
    }

    private void walk(int dirFd, String prefix, int depth) throws IOException {
        if (depth > MAX_DEPTH) {
            throw new IOException("rootfs diff: directories nested deeper than " + MAX_DEPTH + " at " + prefix);
        }
        List<String> names = AtFiles.list(dirFd, prefix.isEmpty() ? "upperdir" : prefix);
        names.sort(null);
        for (String name : names) {
            if (++entries > MAX_ENTRIES) {
                throw new IOException("rootfs diff: more than " + MAX_ENTRIES + " changed files");
            }
            String path = prefix + name;
            AtFiles.Stat st;
            try {
                st = AtFiles.stat(dirFd, name);
            } catch (AtFiles.ErrnoException e) {
                if (e.errno() == AtFiles.ENOENT) {
                    continue; // removed by the running container meanwhile
                }
                throw e;
            }
            switch (st.type()) {
                case AtFiles.S_IFDIR -> {
                    int child;
                    try {
                        child = AtFiles.open(dirFd, name, AtFiles.O_RDONLY | AtFiles.O_DIRECTORY, 0);
                    } catch (AtFiles.ErrnoException e) {
                        if (e.errno() == AtFiles.ENOENT || e.errno() == AtFiles.ELOOP || e.errno() == AtFiles.ENOTDIR) {
                            continue; // replaced meanwhile
                        }
                        throw e;
                    }
                    try {
                        TarArchiveEntry e = entry(path + "/", TarArchiveEntry.LF_DIR, st);
                        tar.putArchiveEntry(e);
                        tar.closeArchiveEntry();
                        walk(child, path + "/", depth + 1);
                    } finally {
                        AtFiles.close(child);
                    }
                }
                case AtFiles.S_IFREG -> regular(dirFd, name, path, st);
                case AtFiles.S_IFLNK -> {
                    TarArchiveEntry e = entry(path, TarArchiveEntry.LF_SYMLINK, st);
                    e.setLinkName(AtFiles.readlink(dirFd, name));
                    tar.putArchiveEntry(e);
                    tar.closeArchiveEntry();
                }
                case AtFiles.S_IFCHR -> {
                    if (st.rdevMajor() == 0 && st.rdevMinor() == 0) {
                        deleted.add("/" + path); // an overlay whiteout: the image's file was deleted
                    }
                }
                default -> {
                    // devices, fifos and sockets are not carried over, as CRI-O's diff leaves them out
                }
            }
        }
    }

    private void regular(int dirFd, String name, String path, AtFiles.Stat st) throws IOException {
        int fd;
        try {
            // The container runs: what was a regular file at the lstat may now be a FIFO or a device.
            fd = AtFiles.openRegularForReading(dirFd, name);
        } catch (AtFiles.ErrnoException e) {
            if (e.errno() == AtFiles.ENOENT || e.errno() == AtFiles.ELOOP || e.errno() == AtFiles.EINVAL) {
                return; // replaced meanwhile
            }
            throw e;
        }
        try {
            AtFiles.Stat now = AtFiles.stat(fd, "");
            TarArchiveEntry e = entry(path, TarArchiveEntry.LF_NORMAL, now);
            e.setSize(now.size());
            tar.putArchiveEntry(e);
            // The file may grow or shrink while it is read (the container runs): exactly size bytes go in.
            long left = now.size();
            while (left > 0) {
                int n = AtFiles.read(fd, buf, (int) Math.min(buf.length, left), path);
                if (n == 0) {
                    java.util.Arrays.fill(buf, (byte) 0);
                    while (left > 0) {
                        int z = (int) Math.min(buf.length, left);
                        tar.write(buf, 0, z);
                        left -= z;
                    }
                    break;
                }
                tar.write(buf, 0, n);
                left -= n;
            }
            tar.closeArchiveEntry();
        } finally {
            AtFiles.close(fd);
        }
    }

    private static TarArchiveEntry entry(String path, byte type, AtFiles.Stat st) {
        TarArchiveEntry e = new TarArchiveEntry(path, type);
        e.setMode(st.mode() & 07777);
        e.setUserId(st.uid() & 0xffffffffL);
        e.setGroupId(st.gid() & 0xffffffffL);
        return e;
    }
}
