package io.coracle.image.store;

import io.coracle.sys.PrivateFiles;
import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import io.coracle.image.ImageReference;
import io.coracle.image.content.ManifestDocument;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.logging.Logger;

/**
 * Image records, indexed by ID, tag and digest, persisted one JSON file per image under
 * {@code <root>/images/} (atomic writes) and reloaded at start.
 */
public final class ImageStore {
    private static final Logger LOG = Logger.getLogger(ImageStore.class.getName());

    private final Path dir;
    private final Map<String, ImageRecord> byId = new TreeMap<>(); // the writers' copy, guarded by this
    /** What readers see: a copy of byId, replaced after each change, so lookups never wait on a write's fsync. */
    private volatile Map<String, ImageRecord> snapshot = Map.of();

    public ImageStore(Path root) {
        this.dir = root.resolve("images");
        try {
            PrivateFiles.directory(dir);
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.json")) {
                for (Path p : ds) {
                    try {
                        PrivateFiles.restrict(p);
                        ImageRecord r = ManifestDocument.JSON.readValue(p.toFile(), ImageRecord.class);
                        byId.put(r.id(), r);
                    } catch (IOException e) {
                        LOG.warning("skipping unreadable image record " + p + ": " + e.getMessage());
                    }
                }
            }
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot load image records from " + dir + ": " + e.getMessage(), e);
        }
        publish();
        LOG.info("image store loaded images=" + byId.size() + " dir=" + dir);
    }

    /** Adds or merges a record (same ID: names are unioned); its tags move away from other images. */
    public synchronized ImageRecord add(ImageRecord r) {
        for (ImageRecord other : List.copyOf(byId.values())) {
            if (other.id().equals(r.id())) {
                continue;
            }
            List<String> tags = new ArrayList<>(other.repoTags());
            if (tags.removeAll(r.repoTags())) {
                persist(other.withNames(tags, other.repoDigests()));
                LOG.info("tag moved from image id=" + other.id() + " to id=" + r.id());
            }
        }
        ImageRecord old = byId.get(r.id());
        ImageRecord merged = r;
        if (old != null) {
            LinkedHashSet<String> tags = new LinkedHashSet<>(old.repoTags());
            tags.addAll(r.repoTags());
            LinkedHashSet<String> digests = new LinkedHashSet<>(old.repoDigests());
            digests.addAll(r.repoDigests());
            LinkedHashSet<String> blobs = new LinkedHashSet<>(old.blobs());
            blobs.addAll(r.blobs());
            merged = new ImageRecord(r.id(), List.copyOf(tags), List.copyOf(digests), r.size(), r.manifestDigest(),
                    r.chainIds(), List.copyOf(blobs), r.user());
        }
        persist(merged);
        return merged;
    }

    private void persist(ImageRecord r) {
        try {
            PrivateFiles.write(file(r.id()), ManifestDocument.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(r), true);
            byId.put(r.id(), r);
            publish();
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot write image record " + r.id() + ": " + e.getMessage(), e);
        }
    }

    private Path file(String id) {
        return dir.resolve(Digest.parse(id).hex() + ".json");
    }

    private void publish() {
        snapshot = java.util.Collections.unmodifiableMap(new TreeMap<>(byId));
    }

    public List<ImageRecord> list() {
        return List.copyOf(snapshot.values());
    }

    public Optional<ImageRecord> get(String id) {
        return Optional.ofNullable(snapshot.get(id));
    }

    /**
     * Finds an image by ID ({@code sha256:<hex>}, {@code <hex>}, or a unique hex prefix), by tag
     * (normalized: {@code busybox} finds {@code docker.io/library/busybox:latest}), or by repo digest.
     */
    public Optional<ImageRecord> find(String s) {
        Map<String, ImageRecord> images = snapshot;
        if (s == null || s.isEmpty()) {
            return Optional.empty();
        }
        if (Digest.isDigest(s) && images.containsKey(s)) {
            return Optional.of(images.get(s));
        }
        if (lowerHex(s, 64, 64)) {
            return Optional.ofNullable(images.get("sha256:" + s));
        }
        try {
            ImageReference ref = ImageReference.parse(s);
            if (ref.digest() != null) {
                String named = ref.withDigest(ref.digest());
                for (ImageRecord r : images.values()) {
                    if (r.repoDigests().contains(named)) {
                        return Optional.of(r);
                    }
                }
            } else {
                String tagged = ref.tagged();
                for (ImageRecord r : images.values()) {
                    if (r.repoTags().contains(tagged)) {
                        return Optional.of(r);
                    }
                }
            }
        } catch (ImageException notAReference) {
            // fall through to the ID prefix
        }
        String prefix = s.startsWith("sha256:") ? s.substring(7) : s;
        if (lowerHex(prefix, 1, 63)) {
            List<ImageRecord> hits = images.values().stream().filter(r -> r.id().startsWith("sha256:" + prefix)).toList();
            if (hits.size() == 1) {
                return Optional.of(hits.getFirst());
            }
        }
        return Optional.empty();
    }

    /**
     * Removes a name or an image. A tag of an image that has other tags is only untagged; the last
     * tag, an ID or a digest removes the image. Returns the removed record, or empty if only untagged
     * or nothing matched.
     */
    public synchronized Optional<ImageRecord> remove(String s) {
        Optional<ImageRecord> found = find(s);
        if (found.isEmpty()) {
            return Optional.empty();
        }
        ImageRecord r = found.get();
        String tag = null;
        try {
            ImageReference ref = ImageReference.parse(s);
            if (ref.digest() == null && r.repoTags().contains(ref.tagged())) {
                tag = ref.tagged();
            }
        } catch (ImageException notAReference) {
            // an ID
        }
        if (tag != null && r.repoTags().size() > 1) {
            List<String> tags = new ArrayList<>(r.repoTags());
            tags.remove(tag);
            persist(r.withNames(tags, r.repoDigests()));
            LOG.info("image untagged id=" + r.id() + " tag=" + tag);
            return Optional.empty();
        }
        try {
            Files.deleteIfExists(file(r.id()));
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot delete image record " + r.id() + ": " + e.getMessage(), e);
        }
        byId.remove(r.id());
        publish();
        LOG.info("image removed id=" + r.id() + " by=" + s);
        return Optional.of(r);
    }

    public static Comparator<ImageRecord> byFirstName() {
        return Comparator.comparing(r -> r.repoTags().isEmpty() ? r.id() : r.repoTags().getFirst());
    }

    /** Whether {@code s} is {@code min} to {@code max} lowercase hex digits (no regex: ImageStatus runs this per call). */
    private static boolean lowerHex(String s, int min, int max) {
        if (s.length() < min || s.length() > max) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }
}
