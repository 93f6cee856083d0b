package io.coracle.runtime.checkpoint;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * The checkpoint archive in the layout the kubelet, CRI-O, containerd and checkpointctl share: an
 * uncompressed tar holding {@code config.dump}, {@code spec.dump}, {@code status.dump},
 * {@code checkpoint/} (CRIU's images), {@code rootfs-diff.tar}, {@code deleted.files},
 * {@code container.log}, and CRIU's {@code dump.log} and {@code stats-dump} when present.
 */
public final class CheckpointArchive {
    public static final String CONFIG_DUMP = "config.dump";
    public static final String SPEC_DUMP = "spec.dump";
    public static final String STATUS_DUMP = "status.dump";
    public static final String CHECKPOINT_DIR = "checkpoint";
    public static final String ROOTFS_DIFF = "rootfs-diff.tar";
    public static final String DELETED_FILES = "deleted.files";
    public static final String CONTAINER_LOG = "container.log";
    public static final String DUMP_LOG = "dump.log";
    public static final String STATS_DUMP = "stats-dump";
    /** The container's stdio as CRIU saw it (runc's name): what a restore hands back with --inherit-fd. */
    public static final String DESCRIPTORS = "descriptors.json";

    private CheckpointArchive() {
    }

    /**
     * What goes in: JSON documents, CRIU's images directory, and files the daemon made (the rootfs
     * diff, CRIU's log and stats) or owns (the container's log; null when it has none).
     */
    public record Contents(byte[] configDump, byte[] specDump, byte[] statusDump, byte[] descriptors,
                           Path imagesDir, Path rootfsDiff, List<String> deletedFiles, Path containerLog,
                           Path dumpLog, Path statsDump) {}

    public static void write(Contents c, OutputStream out) throws IOException {
        TarArchiveOutputStream tar = new TarArchiveOutputStream(out);
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
        bytes(tar, CONFIG_DUMP, c.configDump());
        bytes(tar, SPEC_DUMP, c.specDump());
        bytes(tar, STATUS_DUMP, c.statusDump());
        bytes(tar, DESCRIPTORS, c.descriptors());
        TarArchiveEntry dir = new TarArchiveEntry(CHECKPOINT_DIR + "/", TarArchiveEntry.LF_DIR);
        dir.setMode(0700);
        tar.putArchiveEntry(dir);
        tar.closeArchiveEntry();
        List<Path> images = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(c.imagesDir())) {
            s.forEach(images::add);
        }
        images.sort(null);
        for (Path image : images) {
            file(tar, CHECKPOINT_DIR + "/" + image.getFileName(), image);
        }
        file(tar, ROOTFS_DIFF, c.rootfsDiff());
        if (!c.deletedFiles().isEmpty()) {
            bytes(tar, DELETED_FILES, io.coracle.oci.OciJson.MAPPER.writeValueAsBytes(c.deletedFiles()));
        }
        for (var member : List.of(new Object[] {CONTAINER_LOG, c.containerLog()}, new Object[] {DUMP_LOG, c.dumpLog()},
                new Object[] {STATS_DUMP, c.statsDump()})) {
            Path p = (Path) member[1];
            if (p != null && Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                file(tar, (String) member[0], p);
            }
        }
        tar.finish();
        tar.flush();
    }

    private static void bytes(TarArchiveOutputStream tar, String name, byte[] data) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setMode(0600);
        e.setSize(data.length);
        tar.putArchiveEntry(e);
        tar.write(data);
        tar.closeArchiveEntry();
    }

    /** A regular file, never through a symlink; exactly the size it had when the entry began. */
    private static void file(TarArchiveOutputStream tar, String name, Path p) throws IOException {
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isRegularFile()) {
            return; // CRIU's images are regular files; anything else is not ours to carry
        }
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setMode(0600);
        e.setSize(a.size());
        tar.putArchiveEntry(e);
        try (InputStream in = Files.newInputStream(p, LinkOption.NOFOLLOW_LINKS)) {
            long left = a.size();
            byte[] buf = new byte[64 * 1024];
            while (left > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                if (n < 0) {
                    tar.write(new byte[(int) Math.min(buf.length, left)]);
                    left -= Math.min(buf.length, left);
                    continue;
                }
                tar.write(buf, 0, n);
                left -= n;
            }
        }
        tar.closeArchiveEntry();
    }
}
