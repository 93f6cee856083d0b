package io.coracle.sys;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Coracle's own state under its root and state directories is private to root: directories 0700,
 * files 0600 (container specs hold the env, and so Secrets). Creating a directory or opening a store
 * also narrows what an older install left wider. Files are created with their final mode, never
 * widened by the umask, and nothing here follows a symlink below the top directories.
 */
public final class PrivateFiles {
    public static final Set<PosixFilePermission> DIRECTORY = PosixFilePermissions.fromString("rwx------");
    public static final Set<PosixFilePermission> FILE = PosixFilePermissions.fromString("rw-------");
    /** 0711: others pass through to a name they know (the CRI socket, whose own mode decides), never list. */
    public static final Set<PosixFilePermission> TRAVERSABLE = PosixFilePermissions.fromString("rwx--x--x");
    /** 0644: files a container reads through a bind mount (resolv.conf, hosts, hostname), as any user. */
    public static final Set<PosixFilePermission> READABLE = PosixFilePermissions.fromString("rw-r--r--");

    private PrivateFiles() {}

    /** {@link #directory(Path, Set)} with 0700. */
    public static Path directory(Path dir) throws IOException {
        return directory(dir, DIRECTORY);
    }

    /**
     * Creates {@code dir} with {@code mode} (missing parents 0700), or sets an existing one to it.
     * Fails when {@code dir} is a symlink or no directory.
     */
    public static Path directory(Path dir, Set<PosixFilePermission> mode) throws IOException {
        Path parent = dir.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            directory(parent, DIRECTORY);
        }
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(mode));
        } catch (FileAlreadyExistsException e) {
            // narrowed below
        }
        PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isDirectory()) {
            throw new IOException(dir + " is not a directory" + (a.isSymbolicLink() ? " (a symlink)" : ""));
        }
        if (!a.permissions().equals(mode)) {
            Files.setPosixFilePermissions(dir, mode); // the umask narrowed a new one, or an older install left it wider
        }
        return dir;
    }

    /**
     * Sets an existing file to 0600 or directory to 0700 (for stores opening an older install);
     * absent paths and symlinks are left alone.
     */
    public static void restrict(Path p) throws IOException {
        PosixFileAttributes a;
        try {
            a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        Set<PosixFilePermission> mode = a.isDirectory() ? DIRECTORY : a.isRegularFile() ? FILE : null;
        if (mode != null && !a.permissions().equals(mode)) {
            Files.setPosixFilePermissions(p, mode);
        }
    }

    /** {@link #write(Path, byte[], Set, boolean)} with 0600. */
    public static void write(Path target, byte[] bytes, boolean durable) throws IOException {
        write(target, bytes, FILE, durable);
    }

    /**
     * Replaces {@code target} atomically with {@code bytes}: a new temp file beside it created with
     * {@code mode} (O_EXCL: never through a planted link), then {@link #commit}.
     */
    public static void write(Path target, byte[] bytes, Set<PosixFilePermission> mode, boolean durable)
            throws IOException {
        Path temp = target.resolveSibling("." + target.getFileName() + ".tmp");
        Files.deleteIfExists(temp); // left by a crash
        try (FileChannel ch = FileChannel.open(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(mode))) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        } catch (FileSystemException e) {
            throw e; // names its file already
        } catch (IOException e) {
            // A write's error (e.g. ENOSPC) names no file: name the one being written.
            Files.deleteIfExists(temp);
            throw (IOException) new FileSystemException(target.toString(), null, e.getMessage()).initCause(e);
        }
        if (!Files.readAttributes(temp, PosixFileAttributes.class).permissions().equals(mode)) {
            Files.setPosixFilePermissions(temp, mode); // the umask narrowed it
        }
        commit(temp, target, durable);
    }

    /**
     * The one way a finished file takes its place: with {@code durable}, fsync {@code temp}; rename it
     * over {@code target} (atomic: readers see the old file or the new, whole); with {@code durable},
     * fsync the target's directory so the rename survives a crash. {@code temp} must be on the same
     * filesystem (a sibling, or Coracle's own ingest dir).
     */
    public static void commit(Path temp, Path target, boolean durable) throws IOException {
        if (durable) {
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
        }
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        if (durable) {
            try (FileChannel dir = FileChannel.open(target.toAbsolutePath().getParent(), StandardOpenOption.READ)) {
                dir.force(true);
            } catch (IOException ignored) {
                // some filesystems refuse fsync on a directory; the rename is still atomic
            }
        }
    }
}
