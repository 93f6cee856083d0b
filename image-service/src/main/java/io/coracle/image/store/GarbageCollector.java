package io.coracle.image.store;

import io.coracle.image.Digest;
import io.coracle.image.content.ContentStore;
import java.util.HashSet;
import java.util.Set;
import java.util.logging.Logger;

/** Removes blobs, partial downloads and snapshots that no image record and no lease references. */
public final class GarbageCollector {
    private static final Logger LOG = Logger.getLogger(GarbageCollector.class.getName());

    private final ImageStore images;
    private final ImageLeases leases;
    private final ContentStore content;
    private final SnapshotStore snapshots;

    public GarbageCollector(ImageStore images, ImageLeases leases, ContentStore content, SnapshotStore snapshots) {
        this.images = images;
        this.leases = leases;
        this.content = content;
        this.snapshots = snapshots;
    }

    /**
     * Registers (or widens) the in-memory lease of a pull in progress. Synchronized with
     * {@link #collect()}, so a collection never deletes what a pull has leased.
     */
    public synchronized void leaseForPull(String holder, java.util.List<String> chainIds, java.util.List<String> blobs) {
        leases.holdTransient(holder, chainIds, blobs);
    }

    public void releasePull(String holder) {
        leases.release(holder);
    }

    /** Callers serialize collect() against pulls that have not yet taken their lease (ImageService does). */
    public synchronized void collect() {
        Set<String> blobs = new HashSet<>(leases.leasedBlobs());
        Set<String> chains = new HashSet<>(leases.leasedChainIds());
        for (ImageRecord r : images.list()) {
            blobs.addAll(r.blobs());
            chains.addAll(r.chainIds());
        }
        int removedBlobs = 0;
        int removedSnapshots = 0;
        for (Digest d : content.list()) {
            if (!blobs.contains(d.toString())) {
                content.delete(d);
                removedBlobs++;
            }
        }
        for (Digest c : snapshots.list()) {
            if (!chains.contains(c.toString())) {
                snapshots.delete(c);
                removedSnapshots++;
            }
        }
        // A partial download no pull in flight leases is a dead pull's (e.g. one killed with the daemon).
        int removedPartials = content.deletePartialsExcept(leases.leasedBlobs());
        if (removedBlobs + removedSnapshots + removedPartials > 0) {
            LOG.info("gc removed blobs=" + removedBlobs + " snapshots=" + removedSnapshots + " partials=" + removedPartials);
        }
    }
}
