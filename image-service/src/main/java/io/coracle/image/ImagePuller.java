package io.coracle.image;

import io.coracle.image.content.ContentStore;
import io.coracle.image.content.Descriptor;
import io.coracle.image.content.ImageConfig;
import io.coracle.image.content.ManifestDocument;
import io.coracle.image.registry.Credentials;
import io.coracle.image.registry.RegistryClient;
import io.coracle.image.registry.NodeCredentials;
import io.coracle.image.registry.RegistryLimits;
import io.coracle.image.signature.CosignVerifier;
import io.coracle.image.signature.SignaturePolicy;
import io.coracle.image.store.GarbageCollector;
import io.coracle.image.store.ImageRecord;
import io.coracle.image.store.ImageStore;
import io.coracle.image.store.SnapshotBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * Pulls an image: manifest (index → platform manifest), config, layers into snapshots, then the
 * image record. Concurrent pulls of the same reference share one pull.
 */
public final class ImagePuller {
    private static final Logger LOG = Logger.getLogger(ImagePuller.class.getName());

    private final RegistryClient registry;
    private final ContentStore content;
    private final SnapshotBuilder snapshots;
    private final ImageStore images;
    private final GarbageCollector gc;
    private final Platform platform;
    private final Map<String, CompletableFuture<ImageRecord>> inFlight = new ConcurrentHashMap<>();
    private final CosignVerifier signatures;
    private final NodeCredentials nodeCredentials;

    public ImagePuller(RegistryClient registry, ContentStore content, SnapshotBuilder snapshots, ImageStore images,
                       GarbageCollector gc, Platform platform) {
        this(registry, content, snapshots, images, gc, platform, SignaturePolicy.NONE, new NodeCredentials(null));
    }

    public ImagePuller(RegistryClient registry, ContentStore content, SnapshotBuilder snapshots, ImageStore images,
                       GarbageCollector gc, Platform platform, SignaturePolicy policy, NodeCredentials nodeCredentials) {
        this.registry = registry;
        this.content = content;
        this.snapshots = snapshots;
        this.images = images;
        this.gc = gc;
        this.platform = platform;
        this.signatures = new CosignVerifier(registry, policy);
        this.nodeCredentials = nodeCredentials;
    }

    /** Pulls with the request's credentials, or the node's ({@code auth_file}) for the image when it has none. */
    public ImageRecord pull(String reference, Credentials requestCreds) {
        ImageReference ref = ImageReference.parse(reference);
        Credentials creds = requestCreds.isAnonymous() ? nodeCredentials.lookup(ref) : requestCreds;
        String key = ref + "|" + creds.hashCode();
        CompletableFuture<ImageRecord> mine = new CompletableFuture<>();
        CompletableFuture<ImageRecord> existing = inFlight.putIfAbsent(key, mine);
        if (existing != null) {
            LOG.info("pull joined ref=" + ref);
            try {
                return existing.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof ImageException ie) {
                    throw new ImageException(ie.reason(), ie.getMessage(), ie);
                }
                throw e;
            }
        }
        registry.progress().pullStarted();
        try {
            ImageRecord r = doPull(ref, creds);
            mine.complete(r);
            return r;
        } catch (RuntimeException e) {
            mine.completeExceptionally(e);
            throw e;
        } finally {
            registry.progress().pullEnded();
            inFlight.remove(key, mine);
        }
    }

    private ImageRecord doPull(ImageReference ref, Credentials creds) {
        long start = System.nanoTime();
        String holder = "pull-" + UUID.randomUUID();
        List<String> blobs = new ArrayList<>();
        boolean ok = false;
        boolean badContent = false;
        LOG.info("pull started ref=" + ref + " auth=" + creds);
        try {
            RegistryClient.Manifest top = registry.pullManifest(ref, ref.manifestReference(), creds);
            if (ref.digest() != null && !top.digest().equals(ref.digest())) {
                throw new ImageException(ImageException.Reason.DIGEST_MISMATCH, "manifest of " + ref + " has digest " + top.digest());
            }
            // Before anything else is fetched or unpacked: the signature policy's verdict on the digest.
            signatures.check(ref, top.digest(), creds);
            blobs.add(top.digest().toString());
            gc.leaseForPull(holder, List.of(), blobs);
            content.write(top.digest(), top.bytes());
            ManifestDocument doc = ManifestDocument.parse(top.bytes(), top.mediaType(), ref.toString());
            Digest manifestDigest = top.digest();
            if (doc.isIndex()) {
                Descriptor chosen = selectPlatform(doc, platform, ref.toString());
                RegistryLimits.checkSize(chosen.size(), RegistryLimits.MAX_MANIFEST_BYTES, "manifest " + chosen.digest() + " of " + ref);
                RegistryClient.Manifest m = registry.pullManifest(ref, chosen.digest(), creds);
                if (!m.digest().toString().equals(chosen.digest())) {
                    throw new ImageException(ImageException.Reason.DIGEST_MISMATCH, "manifest " + chosen.digest() + " of " + ref + " has digest " + m.digest());
                }
                blobs.add(m.digest().toString());
                gc.leaseForPull(holder, List.of(), blobs);
                content.write(m.digest(), m.bytes());
                doc = ManifestDocument.parse(m.bytes(), chosen.mediaType() != null ? chosen.mediaType() : m.mediaType(), ref.toString());
                manifestDigest = m.digest();
            }
            if (!doc.isManifest() || doc.config() == null || doc.layers() == null) {
                throw new ImageException(ImageException.Reason.UNSUPPORTED, "unsupported manifest type " + doc.mediaType() + " for " + ref);
            }
            Digest configDigest = doc.config().parsedDigest();
            blobs.add(configDigest.toString());
            List<Descriptor> layers = doc.layers();
            layers.forEach(l -> blobs.add(l.parsedDigest().toString()));
            // Every declared size is checked before the first download, so an absurd layer fails fast.
            RegistryLimits.checkSize(doc.config().size(), RegistryLimits.MAX_CONFIG_BYTES, "image config " + configDigest + " of " + ref);
            for (Descriptor l : layers) {
                RegistryLimits.checkSize(l.size(), RegistryLimits.MAX_BLOB_BYTES, "layer " + l.digest() + " of " + ref);
            }
            gc.leaseForPull(holder, List.of(), blobs);
            registry.pullBlob(ref, configDigest, doc.config().size(), creds);
            ImageConfig config = ImageConfig.parse(content.read(configDigest), ref.toString());
            List<Digest> diffIds = config.rootfs().diffIds().stream().map(Digest::parse).toList();
            gc.leaseForPull(holder, io.coracle.image.store.SnapshotStore.chainIds(diffIds).stream().map(Digest::toString).toList(), blobs);
            List<Digest> chains = snapshots.build(layers, diffIds,
                    (l, progress) -> registry.pullBlob(ref, l.parsedDigest(), l.size(), creds, progress), "pull " + ref);
            long size = doc.config().size() + layers.stream().mapToLong(Descriptor::size).sum();
            ImageRecord record = new ImageRecord(configDigest.toString(),
                    ref.tag() != null ? List.of(ref.tagged()) : List.of(),
                    List.of(ref.withDigest(top.digest())), size, manifestDigest.toString(),
                    chains.stream().map(Digest::toString).toList(), blobs, config.settings().user());
            ImageRecord stored = images.add(record);
            ok = true;
            LOG.info("pull done ref=" + ref + " id=" + stored.id() + " layers=" + layers.size() + " size=" + size
                    + " ms=" + (System.nanoTime() - start) / 1_000_000);
            return stored;
        } catch (RuntimeException e) {
            LOG.info("pull failed ref=" + ref + ": " + e.getMessage());
            // Bad content leaves nothing behind. After a network or auth failure the verified blobs
            // stay (unreferenced) so the kubelet's retry resumes; the next collection removes them.
            badContent = !(e instanceof ImageException ie) || switch (ie.reason()) {
                case UNAVAILABLE, UNAUTHORIZED, NOT_FOUND -> false;
                default -> true;
            };
            throw e;
        } finally {
            gc.releasePull(holder);
            if (!ok && badContent) {
                LOG.fine(() -> "collecting what the failed pull of " + ref + " left");
                gc.collect();
            }
        }
    }

    /** Picks the index entry for the node's platform; attestation entries (unknown/unknown) never match. */
    static Descriptor selectPlatform(ManifestDocument index, Platform platform, String what) {
        Descriptor best = null;
        int bestScore = -1;
        for (Descriptor d : index.manifests()) {
            if (d.platform() == null) {
                continue;
            }
            int s = platform.score(d.platform().os(), d.platform().architecture(), d.platform().variant());
            if (s > bestScore) {
                best = d;
                bestScore = s;
            }
        }
        if (best == null) {
            throw new ImageException(ImageException.Reason.NOT_FOUND, "no manifest for platform " + platform + " in image index of " + what);
        }
        return best;
    }
}
