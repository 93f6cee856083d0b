package io.coracle.runtime.checkpoint;

import io.coracle.cri.CriError;
import io.coracle.image.ImageException;
import io.coracle.image.unpack.LayerUnpacker;
import io.coracle.sys.AtFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * A checkpoint's rootfs changes put back into a new container's upperdir (still empty, before its
 * overlay is mounted): {@code rootfs-diff.tar} through the image layer unpacker (every entry resolved
 * inside the upperdir, no symlink followed, "..", absolute names and writes through symlinks refused),
 * device nodes refused outright (a diff made by {@link RootfsDiff} never has one), then each path of
 * {@code deleted.files} as an overlay whiteout, its parents opened beneath the upperdir without symlinks.
 */
public final class RootfsRestore {
    private static final int EXDEV = 18; // openat2 RESOLVE_NO_XDEV: a mount crossed
    private RootfsRestore() {
    }

    /** INVALID_ARGUMENT for hostile content (nothing of it outside {@code upper}); INTERNAL for the host's failures. */
    public static void apply(Path rootfsDiff, List<String> deleted, Path upper, String archive) {
        if (rootfsDiff != null) {
            refuseDevices(rootfsDiff, archive);
            try (InputStream in = Files.newInputStream(rootfsDiff, LinkOption.NOFOLLOW_LINKS)) {
                LayerUnpacker.unpack(in, upper, null, List::of, "checkpoint archive " + archive + ": " + CheckpointArchive.ROOTFS_DIFF);
            } catch (ImageException e) {
                if (e.reason() == ImageException.Reason.HOSTILE_LAYER || e.reason() == ImageException.Reason.INVALID_ARGUMENT) {
                    throw CriError.invalid(e.getMessage());
                }
                throw CriError.internal(e.getMessage(), e);
            } catch (IOException e) {
                throw CriError.internal("checkpoint archive " + archive + ": " + e.getMessage(), e);
            }
        }
        try {
            int upperFd = AtFiles.openDirectory(upper, AtFiles.O_RDONLY);
            try {
                for (String path : deleted) {
                    whiteout(upperFd, path, archive);
                }
            } finally {
                AtFiles.close(upperFd);
            }
        } catch (AtFiles.ErrnoException e) {
            if (e.errno() == AtFiles.ELOOP || e.errno() == AtFiles.ENOTDIR || e.errno() == EXDEV) {
                throw CriError.invalid("checkpoint archive " + archive + ": " + CheckpointArchive.DELETED_FILES
                        + ": " + e.getMessage() + " (a symlink or a file on the way: refused)");
            }
            throw CriError.internal("checkpoint archive " + archive + ": " + e.getMessage(), e);
        }
    }

    private static void refuseDevices(Path tarFile, String archive) {
        try (InputStream in = Files.newInputStream(tarFile, LinkOption.NOFOLLOW_LINKS);
             TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
            for (TarArchiveEntry e; (e = tar.getNextEntry()) != null; ) {
                if (e.isCharacterDevice() || e.isBlockDevice()) {
                    throw CriError.invalid("checkpoint archive " + archive + ": " + CheckpointArchive.ROOTFS_DIFF
                            + " holds the device node " + e.getName() + ": refused");
                }
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof CriError c) {
                throw c;
            }
            throw CriError.invalid("checkpoint archive " + archive + ": " + CheckpointArchive.ROOTFS_DIFF
                    + " is not a readable tar: " + e.getMessage());
        }
    }

    /** An overlay whiteout (a 0/0 character device) at {@code path}, replacing what the diff put there. */
    private static void whiteout(int upperFd, String path, String archive) throws AtFiles.ErrnoException {
        List<String> parts = new ArrayList<>();
        for (String c : path.split("/")) {
            if (c.isEmpty() || c.equals(".")) {
                continue;
            }
            if (c.equals("..") || c.indexOf('\0') >= 0 || c.length() > 255) {
                throw CriError.invalid("checkpoint archive " + archive + ": " + CheckpointArchive.DELETED_FILES
                        + " names \"" + path + "\": refused");
            }
            parts.add(c);
        }
        if (parts.isEmpty() || parts.size() > RootfsDiff.MAX_DEPTH) {
            throw CriError.invalid("checkpoint archive " + archive + ": " + CheckpointArchive.DELETED_FILES
                    + " names \"" + path + "\": refused");
        }
        int dir = AtFiles.openBeneath(upperFd, ".", AtFiles.O_RDONLY | AtFiles.O_DIRECTORY);
        try {
            for (String c : parts.subList(0, parts.size() - 1)) {
                try {
                    AtFiles.mkdir(dir, c, 0755); // an overlay copy-up leaves the parents in the diff; else a plain one
                } catch (AtFiles.ErrnoException e) {
                    if (e.errno() != AtFiles.EEXIST) {
                        throw e;
                    }
                }
                int next = AtFiles.openBeneath(dir, c, AtFiles.O_RDONLY | AtFiles.O_DIRECTORY);
                AtFiles.close(dir);
                dir = next;
            }
            String name = parts.get(parts.size() - 1);
            AtFiles.removeTree(dir, name);
            AtFiles.mknod(dir, name, AtFiles.S_IFCHR, 0, 0);
        } finally {
            AtFiles.close(dir);
        }
    }
}
