package io.coracle.runtime.checkpoint;

import com.fasterxml.jackson.core.type.TypeReference;
import io.coracle.cri.CriError;
import io.coracle.oci.OciJson;
import io.coracle.oci.Spec;
import io.coracle.sys.AtFiles;
import io.coracle.sys.PrivateFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * What a restore takes out of a checkpoint archive (read through {@link CheckpointLocation}, so only
 * from inside the checkpoint directory): CRIU's images (each a plain file name under
 * {@code checkpoint/}), the rootfs diff (a file, unpacked later by {@link RootfsRestore}), and the
 * bounded JSON members: the checkpointed container's spec, its deleted paths and its stdio.
 *
 * @param imagesDir   CRIU's images, written here
 * @param rootfsDiff  rootfs-diff.tar, copied here (null when the archive has none)
 * @param spec        spec.dump: the checkpointed container's OCI spec
 * @param deleted     deleted.files: paths ("/etc/motd") the container had removed from its image
 * @param descriptors descriptors.json: what fds 0, 1, 2 were ("pipe:[1234]", "/dev/null")
 */
public record CheckpointContents(Path imagesDir, Path rootfsDiff, Spec spec, List<String> deleted,
                                 List<String> descriptors) {
    static final int MAX_JSON_BYTES = CheckpointImage.MAX_DUMP_BYTES;
    static final int MAX_IMAGES = 100_000;
    static final int MAX_DELETED = 1_000_000;

    /** Unpacks {@code archive} into {@code workDir} (empty, private); INVALID_ARGUMENT for a malformed archive. */
    public static CheckpointContents unpack(Path checkpointDir, String archive, Path workDir) {
        CheckpointLocation location = CheckpointLocation.parse(checkpointDir, archive);
        Spec spec = null;
        List<String> deleted = List.of();
        List<String> descriptors = List.of();
        Path diff = null;
        int images = 0;
        try {
            Path imagesDir = PrivateFiles.directory(workDir.resolve(CheckpointArchive.CHECKPOINT_DIR));
            int imagesFd = AtFiles.openDirectory(imagesDir, AtFiles.O_RDONLY);
            try (FileChannel ch = location.openExisting();
                 InputStream in = Channels.newInputStream(ch);
                 TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
                TarArchiveEntry e;
                int members = 0;
                while ((e = tar.getNextEntry()) != null) {
                    if (++members > CheckpointImage.MAX_MEMBERS) {
                        throw invalid(archive, "more than " + CheckpointImage.MAX_MEMBERS + " members");
                    }
                    String name = e.getName().startsWith("./") ? e.getName().substring(2) : e.getName();
                    if (name.startsWith(CheckpointArchive.CHECKPOINT_DIR + "/") && e.isFile()) {
                        String image = name.substring(CheckpointArchive.CHECKPOINT_DIR.length() + 1);
                        if (image.isEmpty() || image.contains("/") || image.equals(".") || image.equals("..")
                                || image.indexOf('\0') >= 0) {
                            throw invalid(archive, "member " + name + " is not a plain file name under checkpoint/");
                        }
                        if (++images > MAX_IMAGES) {
                            throw invalid(archive, "more than " + MAX_IMAGES + " CRIU images");
                        }
                        int fd = AtFiles.createFile(imagesFd, image, 0600); // O_EXCL|O_NOFOLLOW: a repeat is refused
                        try {
                            copy(tar, fd, e.getSize(), name);
                        } finally {
                            AtFiles.close(fd);
                        }
                        continue;
                    }
                    if (!e.isFile()) {
                        continue;
                    }
                    switch (name) {
                        case CheckpointArchive.SPEC_DUMP -> spec = OciJson.MAPPER.readValue(json(tar, e, archive), Spec.class);
                        case CheckpointArchive.DELETED_FILES -> deleted = OciJson.MAPPER.readValue(json(tar, e, archive),
                                new TypeReference<List<String>>() {});
                        case CheckpointArchive.DESCRIPTORS -> descriptors = OciJson.MAPPER.readValue(json(tar, e, archive),
                                new TypeReference<List<String>>() {});
                        case CheckpointArchive.ROOTFS_DIFF -> {
                            diff = workDir.resolve(CheckpointArchive.ROOTFS_DIFF);
                            try (OutputStream out = Files.newOutputStream(diff, java.nio.file.StandardOpenOption.CREATE_NEW,
                                    java.nio.file.StandardOpenOption.WRITE, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                                tar.transferTo(out);
                            }
                        }
                        default -> { }
                    }
                }
            } finally {
                AtFiles.close(imagesFd);
            }
            if (spec == null || images == 0) {
                throw invalid(archive, "no " + (spec == null ? CheckpointArchive.SPEC_DUMP : "CRIU images under checkpoint/"));
            }
            if (deleted == null || deleted.size() > MAX_DELETED || deleted.stream().anyMatch(p -> p == null)) {
                throw invalid(archive, CheckpointArchive.DELETED_FILES + " is not a list of at most " + MAX_DELETED + " paths");
            }
            if (descriptors == null || descriptors.size() > 3 || descriptors.stream().anyMatch(d -> d == null)) {
                throw invalid(archive, CheckpointArchive.DESCRIPTORS + " is not a list of 3 descriptors");
            }
            return new CheckpointContents(imagesDir, diff, spec, deleted, descriptors);
        } catch (CriError e) {
            throw e;
        } catch (AtFiles.ErrnoException e) {
            if (e.errno() == AtFiles.EEXIST) {
                throw invalid(archive, "a CRIU image is in it twice");
            }
            throw CriError.internal("checkpoint archive " + archive + ": " + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            // Jackson's and commons-compress's complaints: the archive's content is at fault.
            throw invalid(archive, "unreadable: " + e.getMessage());
        }
    }

    private static byte[] json(TarArchiveInputStream tar, TarArchiveEntry e, String archive) throws IOException {
        if (e.getSize() > MAX_JSON_BYTES) {
            throw invalid(archive, e.getName() + " is larger than " + MAX_JSON_BYTES + " bytes");
        }
        return tar.readNBytes((int) e.getSize());
    }

    private static void copy(InputStream in, int fd, long size, String name) throws IOException {
        byte[] buf = new byte[64 * 1024];
        long left = size;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new IOException(name + ": archive ends inside it");
            }
            AtFiles.writeFully(fd, buf, n, name);
            left -= n;
        }
    }

    private static CriError invalid(String archive, String why) {
        return CriError.invalid("checkpoint archive " + archive + ": " + why);
    }
}
