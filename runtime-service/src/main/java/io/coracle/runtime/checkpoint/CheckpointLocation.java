package io.coracle.runtime.checkpoint;

import io.coracle.cri.CriError;
import io.coracle.sys.AtFiles;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Where a CheckpointContainer request may write its archive: a path inside the checkpoint
 * directory (the kubelet's, {@code checkpoint.dir}), reached without "..", without any symlink on
 * the way, and created only if nothing has that name (O_EXCL|O_NOFOLLOW): a symlink planted at the
 * location is never followed, an existing file never overwritten.
 *
 * @param dir      the checkpoint directory (configured by the node's admin, trusted)
 * @param parent   the directory of the archive, relative to {@code dir} ("." for dir itself)
 * @param name     the archive's file name
 * @param location the request's location, as given
 */
public record CheckpointLocation(Path dir, String parent, String name, String location) {
    private static final int PATH_MAX = 4096;
    private static final int EXDEV = 18; // openat2 RESOLVE_NO_XDEV: a mount crossed

    /** Checks the request's location's shape (INVALID_ARGUMENT naming what is wrong); touches nothing. */
    public static CheckpointLocation parse(Path checkpointDir, String location) {
        if (location.isEmpty()) {
            throw CriError.invalid("location: empty (the archive must be written inside " + checkpointDir + ")");
        }
        if (location.length() > PATH_MAX || location.indexOf('\0') >= 0) {
            throw CriError.invalid("location: not a usable path (longer than " + PATH_MAX + " bytes or holding NUL)");
        }
        if (!location.startsWith("/")) {
            throw CriError.invalid("location \"" + location + "\" is not an absolute path inside " + checkpointDir);
        }
        String[] parts = location.substring(1).split("/", -1);
        for (String part : parts) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                throw CriError.invalid("location \"" + location + "\": empty, \".\" or \"..\" path components are"
                        + " not allowed");
            }
            if (part.length() > 255) {
                throw CriError.invalid("location \"" + location + "\": a path component is longer than 255 bytes");
            }
        }
        Path p = Path.of(location);
        Path dir = checkpointDir.toAbsolutePath().normalize();
        if (!p.startsWith(dir) || p.equals(dir)) {
            throw CriError.invalid("location \"" + location + "\" is outside the checkpoint directory " + dir
                    + ": checkpoint archives are written there only");
        }
        Path rel = dir.relativize(p.getParent());
        return new CheckpointLocation(dir, rel.toString().isEmpty() ? "." : rel.toString(),
                p.getFileName().toString(), location);
    }

    /** Fails unless the archive can be created: its directory reachable without symlinks and its name free. */
    public void checkFree() {
        int parentFd = openParent();
        try {
            AtFiles.Stat st = AtFiles.stat(parentFd, name);
            if (st.isSymlink()) {
                throw CriError.invalid("location \"" + location + "\" is a symlink: refused (never followed)");
            }
            throw new CriError(CriError.Kind.ALREADY_EXISTS, "location \"" + location + "\" already exists: a"
                    + " checkpoint archive never overwrites a file");
        } catch (AtFiles.ErrnoException e) {
            if (e.errno() != AtFiles.ENOENT) {
                throw CriError.internal("location \"" + location + "\": " + e.getMessage(), e);
            }
        } finally {
            AtFiles.close(parentFd);
        }
    }

    /**
     * Creates the archive file (0600, O_CREAT|O_EXCL|O_NOFOLLOW beneath the checkpoint directory) and
     * returns a channel writing it.
     */
    public FileChannel create() {
        int parentFd = openParent();
        int fd = -1;
        try {
            fd = AtFiles.createFile(parentFd, name, 0600);
            // The descriptor's own file, reopened for a FileChannel: /proc/self/fd names the open inode.
            return FileChannel.open(Path.of("/proc/self/fd", String.valueOf(fd)), StandardOpenOption.WRITE);
        } catch (AtFiles.ErrnoException e) {
            if (e.errno() == AtFiles.EEXIST || e.errno() == AtFiles.ELOOP) {
                throw CriError.invalid("location \"" + location + "\" appeared while the checkpoint was taken"
                        + " (a file or a symlink): refused, nothing written");
            }
            throw CriError.internal("create " + location + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw CriError.internal("create " + location + ": " + e.getMessage(), e);
        } finally {
            AtFiles.close(fd);
            AtFiles.close(parentFd);
        }
    }

    /** Opens an existing archive for reading (a restore's), never through a symlink; NOT_FOUND when absent. */
    public FileChannel openExisting() {
        int parentFd = openParent();
        int fd = -1;
        try {
            fd = AtFiles.open(parentFd, name, AtFiles.O_RDONLY, 0);
            if (!AtFiles.stat(fd, "").isRegular()) {
                throw CriError.invalid("\"" + location + "\" is not a regular file");
            }
            return FileChannel.open(Path.of("/proc/self/fd", String.valueOf(fd)), StandardOpenOption.READ);
        } catch (AtFiles.ErrnoException e) {
            if (e.errno() == AtFiles.ENOENT) {
                throw CriError.notFound("checkpoint archive \"" + location + "\" not found");
            }
            if (e.errno() == AtFiles.ELOOP) {
                throw CriError.invalid("checkpoint archive \"" + location + "\" is a symlink: refused (never followed)");
            }
            throw CriError.internal("open " + location + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw CriError.internal("open " + location + ": " + e.getMessage(), e);
        } finally {
            AtFiles.close(fd);
            AtFiles.close(parentFd);
        }
    }

    /** Removes the file {@link #create()} made (after a failed write), never following a symlink. */
    public void removeCreated() {
        int parentFd = -1;
        try {
            parentFd = openParent();
            AtFiles.unlink(parentFd, name, false);
        } catch (AtFiles.ErrnoException | CriError e) {
            // nothing more to do: the error that led here is the one reported
        } finally {
            AtFiles.close(parentFd);
        }
    }

    private int openParent() {
        int dirFd = -1;
        try {
            if (!Files.exists(dir)) {
                // The kubelet makes it; a node without a kubelet gets it here, private as the kubelet's.
                Files.createDirectories(dir, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
            }
            dirFd = AtFiles.openDirectory(dir, AtFiles.O_RDONLY);
            return AtFiles.openBeneath(dirFd, parent, AtFiles.O_RDONLY | AtFiles.O_DIRECTORY);
        } catch (AtFiles.ErrnoException e) {
            if (e.errno() == AtFiles.ELOOP || e.errno() == EXDEV) {
                throw CriError.invalid("location \"" + location + "\": a symlink (or a mount) on the way inside "
                        + dir + ": refused");
            }
            if (e.errno() == AtFiles.ENOENT || e.errno() == AtFiles.ENOTDIR) {
                throw CriError.invalid("location \"" + location + "\": its directory does not exist in " + dir);
            }
            throw CriError.internal("open " + dir + "/" + parent + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw CriError.internal("create " + dir + ": " + e.getMessage(), e);
        } finally {
            AtFiles.close(dirFd);
        }
    }
}
