package io.coracle.image;

import io.coracle.sys.PrivateFiles;
import com.fasterxml.jackson.databind.JsonNode;
import io.coracle.image.content.ContentStore;
import io.coracle.image.content.Descriptor;
import io.coracle.image.content.ImageConfig;
import io.coracle.image.content.ManifestDocument;
import io.coracle.image.content.MediaTypes;
import io.coracle.image.store.GarbageCollector;
import io.coracle.image.store.ImageRecord;
import io.coracle.image.store.ImageStore;
import io.coracle.image.store.SnapshotBuilder;
import io.coracle.image.store.SnapshotStore;
import io.coracle.image.unpack.LayerUnpacker;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.logging.Logger;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Offline import of an OCI image layout archive ({@code oci-layout}, {@code index.json}, {@code blobs/})
 * or a {@code docker save}/{@code docker load} archive ({@code manifest.json}, as Jib's {@code buildTar}
 * writes too); the archive may be gzip-compressed. The archive is hostile: its entry count, its unpacked
 * size and its JSON documents are bounded, and no entry name climbs out of it.
 */
public final class ImageImporter {
    private static final Logger LOG = Logger.getLogger(ImageImporter.class.getName());

    /** Bounds of one archive: entries, bytes unpacked (all entries), bytes of a JSON document in it. */
    record Limits(int maxEntries, long maxBytes, int maxJsonBytes) {
        static final Limits DEFAULT = new Limits(100_000, 64L << 30, 4 << 20);
    }

    private final Path tmpRoot;
    private final ContentStore content;
    private final SnapshotBuilder snapshots;
    private final ImageStore images;
    private final GarbageCollector gc;
    private final Platform platform;

    ImageImporter(Path root, ContentStore content, SnapshotBuilder snapshots, ImageStore images, GarbageCollector gc, Platform platform) {
        this.tmpRoot = root.resolve("tmp");
        this.content = content;
        this.snapshots = snapshots;
        this.images = images;
        this.gc = gc;
        this.platform = platform;
    }

    public List<ImageRecord> importArchive(Path archive) {
        String holder = "import-" + UUID.randomUUID();
        Path work = tmpRoot.resolve(holder);
        boolean ok = false;
        try {
            PrivateFiles.directory(work);
            Map<String, Path> files = extract(archive, work, Limits.DEFAULT);
            List<ImageRecord> out = files.containsKey("manifest.json")
                    ? importDockerSave(files, holder, archive)
                    : importOciLayout(files, holder, archive);
            ok = true;
            return out;
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot import " + archive + ": " + e.getMessage(), e);
        } finally {
            gc.releasePull(holder);
            try {
                LayerUnpacker.deleteTree(work);
            } catch (IOException e) {
                LOG.warning("cannot remove import temp dir " + work + ": " + e.getMessage());
            }
            if (!ok) {
                gc.collect();
            }
        }
    }

    /** Extracts regular files under flat temp names; symlinks (old docker save) map to their targets. */
    static Map<String, Path> extract(Path archive, Path work, Limits limits) throws IOException {
        Map<String, Path> files = new HashMap<>();
        Map<String, String> links = new HashMap<>();
        try (BufferedInputStream raw = new BufferedInputStream(Files.newInputStream(archive), 1 << 16)) {
            raw.mark(2);
            int b0 = raw.read();
            int b1 = raw.read();
            raw.reset();
            // Closing the tar stream ends the GZIPInputStream's Inflater now (its zlib memory is native), not at a GC.
            try (TarArchiveInputStream tar = new TarArchiveInputStream(
                    b0 == 0x1f && b1 == 0x8b ? new GZIPInputStream(raw, 1 << 16) : raw)) {
                TarArchiveEntry e;
                int n = 0;
                long total = 0;
                while ((e = tar.getNextEntry()) != null) {
                    if (n + links.size() >= limits.maxEntries()) {
                        throw new ImageException(ImageException.Reason.TOO_LARGE, "archive " + archive + " has more than "
                                + limits.maxEntries() + " entries");
                    }
                    String name = clean(e.getName());
                    if (name == null) {
                        throw new ImageException(ImageException.Reason.HOSTILE_LAYER, "archive " + archive + " has an unsafe entry \"" + e.getName() + "\"");
                    }
                    if (e.isSymbolicLink()) {
                        String parent = name.contains("/") ? name.substring(0, name.lastIndexOf('/') + 1) : "";
                        links.put(name, parent + e.getLinkName());
                    } else if (e.isFile()) {
                        Path p = work.resolve("f" + n++);
                        try (OutputStream out = Files.newOutputStream(p)) {
                            total += copyBounded(tar, out, limits.maxBytes() - total, limits.maxBytes(), archive);
                        }
                        files.put(name, p);
                    }
                }
            }
        }
        links.forEach((name, target) -> {
            String t = clean(target);
            if (t != null && files.containsKey(t)) {
                files.put(name, files.get(t));
            }
        });
        return files;
    }

    /** Copies at most {@code room} bytes; more is refused (an unpacked archive over its bound). */
    private static long copyBounded(InputStream in, OutputStream out, long room, long bound, Path archive) throws IOException {
        byte[] buf = new byte[1 << 16];
        long n = 0;
        for (int r; (r = in.read(buf)) > 0; ) {
            n += r;
            if (n > room) {
                throw new ImageException(ImageException.Reason.TOO_LARGE, "archive " + archive + " unpacks to more than "
                        + bound + " bytes");
            }
            out.write(buf, 0, r);
        }
        return n;
    }

    /** A JSON document of the archive, read whole only under the bound. */
    private static byte[] readJson(Path file, String name, Path archive) throws IOException {
        if (Files.size(file) > Limits.DEFAULT.maxJsonBytes()) {
            throw new ImageException(ImageException.Reason.TOO_LARGE, name + " in " + archive + " is larger than "
                    + Limits.DEFAULT.maxJsonBytes() + " bytes");
        }
        return Files.readAllBytes(file);
    }

    /** Normalizes an archive path (drops ./ and resolves ..); null if it climbs out. */
    private static String clean(String name) {
        List<String> parts = new ArrayList<>();
        for (String c : name.split("/")) {
            if (c.isEmpty() || c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                if (parts.isEmpty()) {
                    return null;
                }
                parts.removeLast();
            } else {
                parts.add(c);
            }
        }
        return String.join("/", parts);
    }

    private List<ImageRecord> importOciLayout(Map<String, Path> files, String holder, Path archive) throws IOException {
        Path indexFile = files.get("index.json");
        if (indexFile == null) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, archive + " is neither an OCI image layout (no index.json) nor a docker save archive (no manifest.json)");
        }
        List<String> blobs = new ArrayList<>();
        for (Map.Entry<String, Path> f : files.entrySet()) {
            if (f.getKey().startsWith("blobs/sha256/")) {
                Digest d = new Digest(f.getKey().substring("blobs/sha256/".length()));
                blobs.add(d.toString());
                gc.leaseForPull(holder, List.of(), blobs);
                try (InputStream in = Files.newInputStream(f.getValue())) {
                    content.write(in, d, -1);
                }
            }
        }
        ManifestDocument index = ManifestDocument.parse(readJson(indexFile, "index.json", archive), MediaTypes.OCI_INDEX, archive + " index.json");
        List<ImageRecord> out = new ArrayList<>();
        for (Descriptor d : index.manifests()) {
            Map<String, String> ann = d.annotations() == null ? Map.of() : d.annotations();
            String name = ann.getOrDefault("io.containerd.image.name", ann.get("org.opencontainers.image.ref.name"));
            List<String> tags = new ArrayList<>();
            if (name != null && (name.contains("/") || name.contains(":"))) {
                ImageReference ref = ImageReference.parse(name);
                if (ref.tag() != null) {
                    tags.add(ref.tagged());
                }
            }
            Digest manifestDigest = d.parsedDigest();
            ManifestDocument doc = ManifestDocument.parse(content.read(manifestDigest), d.mediaType(), archive + " " + d.digest());
            if (doc.isIndex()) {
                Descriptor chosen = ImagePuller.selectPlatform(doc, platform, archive.toString());
                manifestDigest = chosen.parsedDigest();
                doc = ManifestDocument.parse(content.read(manifestDigest), chosen.mediaType(), archive + " " + chosen.digest());
            }
            out.add(assemble(doc, manifestDigest, tags, blobs, holder, archive));
        }
        return out;
    }

    private List<ImageRecord> importDockerSave(Map<String, Path> files, String holder, Path archive) throws IOException {
        JsonNode manifests = ManifestDocument.JSON.readTree(readJson(files.get("manifest.json"), "manifest.json", archive));
        List<ImageRecord> out = new ArrayList<>();
        for (JsonNode m : manifests) {
            List<String> blobs = new ArrayList<>();
            Path configFile = require(files, m.path("Config").asText(), archive);
            Digest configDigest;
            try (InputStream in = Files.newInputStream(configFile)) {
                configDigest = Digest.of(readJson(configFile, m.path("Config").asText(), archive));
                blobs.add(configDigest.toString());
                gc.leaseForPull(holder, List.of(), blobs);
                content.write(in, configDigest, -1);
            }
            List<Descriptor> layers = new ArrayList<>();
            for (JsonNode l : m.path("Layers")) {
                Path layerFile = require(files, l.asText(), archive);
                Digest d;
                try (InputStream in = Files.newInputStream(layerFile)) {
                    // Lease is widened right after; a GC in between would only cost a re-read of the file.
                    d = content.write(in, null, -1);
                }
                blobs.add(d.toString());
                gc.leaseForPull(holder, List.of(), blobs);
                if (!content.contains(d)) {
                    try (InputStream in = Files.newInputStream(layerFile)) {
                        content.write(in, d, -1);
                    }
                }
                layers.add(new Descriptor(layerMediaType(layerFile), d, Files.size(layerFile)));
            }
            Map<String, Object> manifest = new LinkedHashMap<>();
            manifest.put("schemaVersion", 2);
            manifest.put("mediaType", MediaTypes.OCI_MANIFEST);
            manifest.put("config", new Descriptor(MediaTypes.OCI_CONFIG, configDigest, Files.size(configFile)));
            manifest.put("layers", layers);
            byte[] manifestBytes = ManifestDocument.JSON.writeValueAsBytes(manifest);
            Digest manifestDigest = Digest.of(manifestBytes);
            blobs.add(manifestDigest.toString());
            gc.leaseForPull(holder, List.of(), blobs);
            content.write(manifestDigest, manifestBytes);
            List<String> tags = new ArrayList<>();
            for (JsonNode t : m.path("RepoTags")) {
                ImageReference ref = ImageReference.parse(t.asText());
                if (ref.tag() != null) {
                    tags.add(ref.tagged());
                }
            }
            ManifestDocument doc = ManifestDocument.parse(manifestBytes, MediaTypes.OCI_MANIFEST, archive.toString());
            out.add(assemble(doc, manifestDigest, tags, blobs, holder, archive));
        }
        return out;
    }

    private ImageRecord assemble(ManifestDocument doc, Digest manifestDigest, List<String> tags, List<String> allBlobs,
                                 String holder, Path archive) {
        if (!doc.isManifest() || doc.config() == null || doc.layers() == null) {
            throw new ImageException(ImageException.Reason.UNSUPPORTED, "unsupported manifest " + manifestDigest + " in " + archive);
        }
        Digest configDigest = doc.config().parsedDigest();
        ImageConfig config = ImageConfig.parse(content.read(configDigest), archive.toString());
        List<Digest> diffIds = config.rootfs().diffIds().stream().map(Digest::parse).toList();
        gc.leaseForPull(holder, SnapshotStore.chainIds(diffIds).stream().map(Digest::toString).toList(), allBlobs);
        List<Digest> chains = snapshots.build(doc.layers(), diffIds, (l, progress) -> {
            if (!content.contains(l.parsedDigest())) {
                throw new ImageException(ImageException.Reason.NOT_FOUND, "layer " + l.digest() + " missing from " + archive);
            }
        }, "import " + archive);
        List<String> blobs = new ArrayList<>(List.of(manifestDigest.toString(), configDigest.toString()));
        doc.layers().forEach(l -> blobs.add(l.digest()));
        long size = doc.config().size() + doc.layers().stream().mapToLong(Descriptor::size).sum();
        ImageRecord r = images.add(new ImageRecord(configDigest.toString(), tags, List.of(), size, manifestDigest.toString(),
                chains.stream().map(Digest::toString).toList(), blobs, config.settings().user()));
        LOG.info("image imported id=" + r.id() + " tags=" + tags + " from=" + archive);
        return r;
    }

    private static Path require(Map<String, Path> files, String name, Path archive) {
        Path p = files.get(clean(name));
        if (p == null) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, archive + " lacks " + name + " named by manifest.json");
        }
        return p;
    }

    private static String layerMediaType(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            byte[] m = in.readNBytes(4);
            if (m.length >= 2 && (m[0] & 0xff) == 0x1f && (m[1] & 0xff) == 0x8b) {
                return MediaTypes.OCI_LAYER_GZIP;
            }
            if (m.length == 4 && (m[0] & 0xff) == 0x28 && (m[1] & 0xff) == 0xb5) {
                return MediaTypes.OCI_LAYER_ZSTD;
            }
            return MediaTypes.OCI_LAYER;
        }
    }
}
