package io.coracle.runtime.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import io.coracle.cri.CriError;
import io.coracle.oci.OciJson;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * A CreateContainer image that names a checkpoint archive (CRI-O's restore: the image is the path
 * of a local checkpoint tar). Only archives inside the checkpoint directory are read, through the
 * same no-symlink rules as the archives written there; the metadata is read with bounds.
 *
 * @param archive         the path as the request named it
 * @param containerName   the checkpointed container's name (config.dump "name")
 * @param rootfsImageName the image it ran (config.dump "rootfsImageName")
 * @param rootfsImageRef  that image's digested reference or id (config.dump "rootfsImageRef")
 */
public record CheckpointImage(String archive, String containerName, String rootfsImageName, String rootfsImageRef) {
    static final int MAX_DUMP_BYTES = 4 << 20;
    static final int MAX_MEMBERS = 1_000_000;

    /** Whether a CreateContainer image names a checkpoint archive (a host path) rather than an image. */
    public static boolean named(String image) {
        return image.startsWith("/");
    }

    public static CheckpointImage read(Path checkpointDir, String image) {
        CheckpointLocation location;
        try {
            location = CheckpointLocation.parse(checkpointDir, image);
        } catch (CriError e) {
            throw CriError.invalid("image \"" + image + "\" names a checkpoint archive, which must lie in the"
                    + " checkpoint directory " + checkpointDir + ": " + e.getMessage());
        }
        JsonNode config = null;
        boolean spec = false;
        try (FileChannel ch = location.openExisting();
             InputStream in = Channels.newInputStream(ch);
             TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
            TarArchiveEntry e;
            int members = 0;
            while ((e = tar.getNextEntry()) != null && (config == null || !spec)) {
                if (++members > MAX_MEMBERS) {
                    break;
                }
                String name = e.getName().startsWith("./") ? e.getName().substring(2) : e.getName();
                if (!e.isFile() || !(name.equals(CheckpointArchive.CONFIG_DUMP) || name.equals(CheckpointArchive.SPEC_DUMP))) {
                    continue;
                }
                if (e.getSize() > MAX_DUMP_BYTES) {
                    throw CriError.invalid("checkpoint archive " + image + ": " + name + " is larger than "
                            + MAX_DUMP_BYTES + " bytes");
                }
                byte[] data = tar.readNBytes((int) e.getSize());
                if (name.equals(CheckpointArchive.CONFIG_DUMP)) {
                    config = OciJson.MAPPER.readTree(data);
                } else {
                    OciJson.MAPPER.readTree(data); // must parse
                    spec = true;
                }
            }
        } catch (IOException e) {
            throw CriError.invalid("checkpoint archive " + image + " is not a readable tar with JSON metadata: "
                    + e.getMessage());
        }
        if (config == null || !spec || !config.isObject()) {
            throw CriError.invalid("checkpoint archive " + image + " has no " + (config == null || !config.isObject()
                    ? CheckpointArchive.CONFIG_DUMP : CheckpointArchive.SPEC_DUMP) + ": not a checkpoint archive");
        }
        String imageName = config.path("rootfsImageName").asText("");
        if (imageName.isEmpty()) {
            throw CriError.invalid("checkpoint archive " + image + ": config.dump names no rootfsImageName");
        }
        return new CheckpointImage(image, config.path("name").asText(""), imageName,
                config.path("rootfsImageRef").asText(""));
    }
}
