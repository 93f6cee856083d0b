package io.coracle.image.store;

import io.coracle.sys.PrivateFiles;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import io.coracle.image.ImageException;
import io.coracle.image.content.ManifestDocument;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * Leases keep an image's blobs and snapshots from garbage collection while a holder (a container,
 * or a pull in progress) uses them, even after the image record is removed. Holder leases are
 * persisted under {@code <root>/leases/} so they survive a daemon restart; pull leases live in memory.
 */
public final class ImageLeases {
    private static final Logger LOG = Logger.getLogger(ImageLeases.class.getName());
    private static final Pattern HOLDER = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");

    /** What one lease keeps alive. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Lease(String holder, String imageId, List<String> chainIds, List<String> blobs) {
    }

    private final Path dir;
    private final Map<String, Lease> leases = new ConcurrentHashMap<>();

    public ImageLeases(Path root) {
        this.dir = root.resolve("leases");
        try {
            PrivateFiles.directory(dir);
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.json")) {
                for (Path p : ds) {
                    PrivateFiles.restrict(p);
                    Lease l = ManifestDocument.JSON.readValue(p.toFile(), Lease.class);
                    leases.put(l.holder(), l);
                }
            }
            // A daemon killed between a lease's temp file and its rename leaves ".<holder>.json.tmp": never a lease.
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, ".*.json.tmp")) {
                for (Path p : ds) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot load leases from " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Persists a lease for {@code holder} (e.g. a container ID) on everything {@code image} needs. Idempotent.
     * Not {@code durable}: written (a daemon's crash keeps it) but not fsync'd (a node's crash may lose it).
     */
    public void hold(String holder, ImageRecord image, boolean durable) {
        if (!HOLDER.matcher(holder).matches()) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "invalid lease holder \"" + holder + "\"");
        }
        Lease l = new Lease(holder, image.id(), image.chainIds(), image.blobs());
        try {
            PrivateFiles.write(dir.resolve(holder + ".json"), ManifestDocument.JSON.writeValueAsBytes(l), durable);
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot write lease " + holder + ": " + e.getMessage(), e);
        }
        leases.put(holder, l);
        LOG.info("lease held holder=" + holder + " image=" + image.id());
    }

    /** In-memory lease for work in progress (a pull); released with {@link #release}. */
    void holdTransient(String holder, List<String> chainIds, List<String> blobs) {
        leases.put(holder, new Lease(holder, null, List.copyOf(chainIds), List.copyOf(blobs)));
    }

    /** The holders of persisted leases (containers), for recovery to release those no container has any more. */
    public java.util.Set<String> persistedHolders() {
        return leases.values().stream().filter(l -> l.imageId() != null).map(Lease::holder)
                .collect(java.util.stream.Collectors.toUnmodifiableSet());
    }

    /** Releases a lease; releasing an unknown holder is not an error. Returns the image it held, if any. */
    public java.util.Optional<String> release(String holder) {
        Lease l = leases.remove(holder);
        if (l != null && l.imageId() != null) {
            try {
                Files.deleteIfExists(dir.resolve(holder + ".json"));
            } catch (IOException e) {
                throw new ImageException(ImageException.Reason.IO, "cannot delete lease " + holder + ": " + e.getMessage(), e);
            }
            LOG.info("lease released holder=" + holder + " image=" + l.imageId());
        }
        return java.util.Optional.ofNullable(l == null ? null : l.imageId());
    }

    public boolean isImageLeased(String imageId) {
        return leases.values().stream().anyMatch(l -> imageId.equals(l.imageId()));
    }

    Set<String> leasedChainIds() {
        Set<String> out = new HashSet<>();
        leases.values().forEach(l -> out.addAll(l.chainIds()));
        return out;
    }

    Set<String> leasedBlobs() {
        Set<String> out = new HashSet<>();
        leases.values().forEach(l -> out.addAll(l.blobs()));
        return out;
    }
}
