package io.coracle.image;

import io.coracle.sys.HeapRelease;
import io.coracle.sys.PrivateFiles;
import io.coracle.image.content.ContentStore;
import io.coracle.image.content.ImageConfig;
import io.coracle.image.registry.Credentials;
import io.coracle.image.registry.NodeCredentials;
import io.coracle.image.registry.PullProgress;
import io.coracle.image.registry.RegistryClient;
import io.coracle.image.signature.SignaturePolicy;
import io.coracle.image.store.GarbageCollector;
import io.coracle.image.store.ImageLeases;
import io.coracle.image.store.ImageRecord;
import io.coracle.image.store.ImageStore;
import io.coracle.image.store.SnapshotBuilder;
import io.coracle.image.store.SnapshotStore;
import io.coracle.image.unpack.LayerUnpacker;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Logger;

/**
 * The image service as the daemon and the container code see it: pull, import, look up, remove
 * images; the image config and overlay lowerdirs of an image; leases for containers.
 */
public final class ImageService implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ImageService.class.getName());

    private final ImageServiceConfig config;
    private final ContentStore content;
    private final SnapshotStore snapshots;
    private final ImageStore images;
    private final ImageLeases leases;
    private final GarbageCollector gc;
    private final RegistryClient registry;
    private final ImagePuller puller;
    private final ImageImporter importer;
    private final FilesystemUsage usage;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final HeapRelease heapRelease = HeapRelease.daemon();

    public ImageService(ImageServiceConfig config) {
        this.config = config;
        try {
            if (!Files.isDirectory(config.root())) { // the daemon's root: it set the mode
                PrivateFiles.directory(config.root());
            }
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot create image root " + config.root() + ": " + e.getMessage(), e);
        }
        this.content = new ContentStore(config.root());
        content.cleanIngest();
        this.snapshots = new SnapshotStore(config.root());
        this.images = new ImageStore(config.root());
        this.leases = new ImageLeases(config.root());
        this.gc = new GarbageCollector(images, leases, content, snapshots);
        SnapshotBuilder builder = new SnapshotBuilder(content, snapshots, executor,
                Math.max(config.maxConcurrentDownloads(), Runtime.getRuntime().availableProcessors()));
        this.registry = new RegistryClient(config, content);
        this.puller = new ImagePuller(registry, content, builder, images, gc, Platform.parse(config.platform()),
                SignaturePolicy.load(config.signaturePolicy()), new NodeCredentials(config.authFile()));
        this.importer = new ImageImporter(config.root(), content, builder, images, gc, Platform.parse(config.platform()));
        this.usage = new FilesystemUsage(config.root(), config.containerRoot());
        // Drops what an interrupted pull or removal left: unreferenced blobs and snapshots.
        gc.collect();
        LOG.info("image service ready root=" + config.root() + " images=" + images.list().size());
    }

    public ImageServiceConfig config() {
        return config;
    }

    /** Pulls in flight, blob downloads with their bytes, stalls: for metrics. */
    public PullProgress pullProgress() {
        return registry.progress();
    }

    /** Pulls {@code reference} (normalized like the kubelet does) and returns its record. */
    public ImageRecord pull(String reference, Credentials credentials) {
        heapRelease.started();
        try {
            return puller.pull(reference, credentials);
        } finally {
            heapRelease.ended();
        }
    }

    /** Loads an OCI image layout archive or a {@code docker save} archive; returns the imported images. */
    public List<ImageRecord> importArchive(Path archive) {
        heapRelease.started();
        try {
            return importer.importArchive(archive);
        } finally {
            heapRelease.ended();
        }
    }

    /** By ID, unique ID prefix, tag or repo digest. */
    public Optional<ImageRecord> find(String refOrId) {
        return images.find(refOrId);
    }

    public List<ImageRecord> list() {
        return images.list();
    }

    /**
     * Removes a tag (the image stays while it has other tags) or a whole image (by ID, digest, or its
     * last tag), then collects unreferenced blobs and snapshots. Nothing to remove is not an error.
     */
    public void remove(String refOrId) {
        Optional<ImageRecord> removed = images.remove(refOrId);
        if (removed.isPresent()) {
            gc.collect();
        }
    }

    /** Whether the image is in the configured pinned list (e.g. the pause image). */
    public boolean isPinned(ImageRecord r) {
        for (String p : config.pinnedImages()) {
            Optional<ImageRecord> hit = images.find(p);
            if (hit.isPresent() && hit.get().id().equals(r.id())) {
                return true;
            }
        }
        return false;
    }

    /** The image config (Entrypoint, Cmd, Env, WorkingDir, User, StopSignal, ExposedPorts, Volumes, Labels). */
    public ImageConfig imageConfig(String refOrId) {
        ImageRecord r = require(refOrId);
        return ImageConfig.parse(content.read(Digest.parse(r.id())), r.id());
    }

    /** The raw config JSON of an image. */
    public byte[] imageConfigJson(String refOrId) {
        return content.read(Digest.parse(require(refOrId).id()));
    }

    /** Overlayfs lowerdirs of an image, top layer first, as {@code lowerdir=} wants them. */
    public List<Path> lowerDirs(String refOrId) {
        ImageRecord r = require(refOrId);
        List<Path> out = new ArrayList<>();
        for (String chain : r.chainIds().reversed()) {
            out.add(snapshots.path(Digest.parse(chain)));
        }
        return out;
    }

    /** Keeps an image's layers and blobs alive for {@code holder} (a container ID) until {@link #release}; persisted. */
    public void hold(String holder, String imageId) {
        leases.hold(holder, require(imageId), true);
    }

    /**
     * As {@link #hold}, but not fsync'd: for a holder whose lease start-up takes again from its own durable
     * record when a crash of the node lost it (a container's lease on its image).
     */
    public void holdVolatile(String holder, String imageId) {
        leases.hold(holder, require(imageId), false);
    }

    /** Who holds images through {@link #hold} (container IDs), as persisted. */
    public java.util.Set<String> holders() {
        return leases.persistedHolders();
    }

    /**
     * Releases the holder's lease and those of its parts ({@code holder.<part>}: a container's image
     * volumes). Only an image removed while in use leaves anything to collect: one that still has its
     * record keeps every blob and snapshot (a collection listed the whole store on each RemoveContainer).
     */
    public void release(String holder) {
        List<Optional<String>> released = new ArrayList<>();
        released.add(leases.release(holder));
        for (String part : leases.persistedHolders()) {
            if (part.startsWith(holder + ".")) {
                released.add(leases.release(part));
            }
        }
        if (released.stream().anyMatch(image -> image.isEmpty() || images.find(image.get()).isEmpty())) {
            gc.collect();
        }
    }

    /** Bytes and inodes of the image store (and the container root when it is elsewhere). */
    public FilesystemUsage.Report usage() {
        return usage.report();
    }

    private ImageRecord require(String refOrId) {
        return images.find(refOrId).orElseThrow(() ->
                new ImageException(ImageException.Reason.NOT_FOUND, "image \"" + refOrId + "\" not found"));
    }

    /** Deletes a directory tree without following symlinks (for the container code's upper dirs too). */
    public static void deleteTree(Path p) throws IOException {
        LayerUnpacker.deleteTree(p);
    }

    @Override
    public void close() {
        registry.close();
        executor.shutdownNow();
    }
}
