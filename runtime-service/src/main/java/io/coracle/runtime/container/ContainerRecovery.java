package io.coracle.runtime.container;

import io.coracle.cgroup.Cgroups;
import io.coracle.cri.v1.ContainerState;
import io.coracle.image.ImageService;
import io.coracle.oci.OciJson;
import io.coracle.runtime.spec.PodContext;
import io.coracle.shim.ShimClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * Start-up: rebuilds the container store from disk and the live shims. A container directory without
 * a record is a create that never finished: everything it made (shim, processes, cgroup, state dir,
 * image lease; named by its intent record) is undone. Containers whose pod is gone are removed, as are
 * shim state dirs and image leases no container owns. Running containers get their exit watchers
 * back; the ones that exited meanwhile keep the exit record their shim wrote, and their stopped event
 * goes out now (held for the first GetContainerEvents subscriber). One log line per recovered object.
 */
public final class ContainerRecovery {
    private static final Logger LOG = Logger.getLogger(ContainerRecovery.class.getName());

    private final ContainerStore store;
    private final ContainerLifecycle lifecycle;
    private final PodLookup pods;
    private final Cgroups cgroups;
    private final ImageService images;
    private final Path shimStateRoot;

    public ContainerRecovery(ContainerStore store, ContainerLifecycle lifecycle, PodLookup pods, Cgroups cgroups,
                             ImageService images, Path shimStateRoot) {
        this.store = store;
        this.lifecycle = lifecycle;
        this.pods = pods;
        this.cgroups = cgroups;
        this.images = images;
        this.shimStateRoot = shimStateRoot;
    }

    public void recover() throws IOException {
        for (Path orphan : store.load()) {
            undoCreate(orphan);
        }
        for (ContainerRecord r : store.list()) {
            if (pods.find(r.podId()).filter(p -> p.podId().equals(r.podId())).isEmpty()) {
                try {
                    lifecycle.remove(r.id());
                    LOG.warning("container " + r.id() + ": its pod " + r.podId() + " is gone; removed");
                } catch (RuntimeException e) {
                    LOG.warning("container " + r.id() + ": its pod " + r.podId() + " is gone; cannot remove it: "
                            + e.getMessage());
                }
            }
        }
        int running = 0;
        for (ContainerRecord r : store.list()) {
            undoInterruptedStart(r);
        }
        for (ContainerRecord r : store.list()) {
            ContainerState state = ContainerStates.of(r, store).state();
            if (state == ContainerState.CONTAINER_RUNNING) {
                lifecycle.watchExit(r);
                running++;
            } else if (state == ContainerState.CONTAINER_EXITED) {
                lifecycle.reportExit(r); // exited while the daemon was down: its stopped event is still due
            } else if (state == ContainerState.CONTAINER_UNKNOWN) {
                lifecycle.reclaimAfterShimDeath(r); // its shim was killed while the daemon was down
            }
        }
        removeStrayShims();
        releaseStrayLeases();
        retakeLostLeases();
        LOG.info("containers recovered: " + store.list().size() + " (" + running + " running)");
    }

    /**
     * A StartContainer a crash interrupted while the shim made the process (the start plan is still
     * there): what the shim made is killed and removed; the container stays CREATED, startable again.
     */
    private void undoInterruptedStart(ContainerRecord r) {
        if (!ContainerStartPlan.pending(store.containerDir(r.id())) || !Files.exists(r.stateDir())) {
            return;
        }
        try {
            lifecycle.scopes().stop(r.cgroupPath());
            ContainerCleanup.undoProcess(new ContainerIntent(r.id(), r.podId(), r.stateDir(), r.cgroupPath()), cgroups);
            LOG.warning("container " + r.id() + ": undid a StartContainer a crash interrupted (shim, processes, cgroup"
                    + " and state dir removed); it stays created");
        } catch (IOException | RuntimeException e) {
            LOG.warning("container " + r.id() + ": cannot undo its interrupted start: " + e.getMessage());
        }
    }

    /** A container dir without a readable record: undo what its create made, by its intent if it has one. */
    private void undoCreate(Path dir) {
        String id = dir.getFileName().toString();
        ContainerIntent intent;
        try {
            intent = OciJson.read(dir.resolve(ContainerIntent.FILE), ContainerIntent.class);
        } catch (IOException | RuntimeException e) {
            // No intent (an older daemon, or a damaged record): the state dir follows from the id, the
            // cgroup is looked for under every pod.
            String cgroup = pods.all().stream().map(p -> p.cgroupParent() + "/" + id).filter(cgroups::exists)
                    .findFirst().orElse(null);
            intent = new ContainerIntent(id, "", shimStateRoot.resolve(id.substring(0, Math.min(16, id.length()))), cgroup);
        }
        try {
            ContainerCleanup.undoCreate(intent, dir, cgroups, images);
            LOG.warning("container " + id + ": undid a CreateContainer a crash interrupted (shim, processes, cgroup,"
                    + " state dir, image lease and " + dir + " removed)");
        } catch (IOException | RuntimeException e) {
            LOG.warning("container " + id + ": cannot undo its interrupted create: " + e.getMessage());
        }
    }

    /** Shim state dirs no container owns (a create undone half-way): their shim is killed, the dir deleted. */
    private void removeStrayShims() throws IOException {
        if (!Files.isDirectory(shimStateRoot)) {
            return;
        }
        Set<Path> owned = new HashSet<>();
        store.list().forEach(r -> owned.add(r.stateDir()));
        List<Path> dirs;
        try (Stream<Path> s = Files.list(shimStateRoot)) {
            dirs = s.filter(d -> !owned.contains(d)).toList();
        }
        for (Path d : dirs) {
            try {
                ContainerCleanup.killAndReap(new ShimClient(d), ContainerCleanup.KILL_WAIT);
                ContainerCleanup.deleteTree(d);
                LOG.warning("shim state " + d + ": no container owns it; its shim killed and the dir removed");
            } catch (IOException | RuntimeException e) {
                LOG.warning("shim state " + d + ": no container owns it; cannot remove it: " + e.getMessage());
            }
        }
    }

    /** A container's lease on its image is not fsync'd: one a crash of the node lost is taken again from its record. */
    private void retakeLostLeases() {
        Set<String> held = images.holders();
        for (ContainerRecord r : store.list()) {
            if (held.contains(r.id())) {
                continue;
            }
            try {
                images.holdVolatile(r.id(), r.imageId());
                LOG.warning("container " + r.id() + ": its image lease was lost (a crash of the node); taken again on"
                        + " image " + r.imageId());
            } catch (RuntimeException e) {
                LOG.warning("container " + r.id() + ": its image lease was lost, and its image " + r.imageId()
                        + " cannot be held: " + e.getMessage());
            }
        }
    }

    /**
     * Image leases whose container is gone keep layers from garbage collection forever: released (a
     * container's image volumes hold theirs as {@code <id>.volume<n>}).
     */
    private void releaseStrayLeases() {
        for (String holder : images.holders()) {
            int dot = holder.indexOf('.');
            if (store.get(dot < 0 ? holder : holder.substring(0, dot)).isEmpty()) {
                try {
                    images.release(holder);
                    LOG.warning("image lease of " + holder + ": no such container; released");
                } catch (RuntimeException e) {
                    LOG.warning("image lease of " + holder + ": no such container; cannot release: " + e.getMessage());
                }
            }
        }
    }
}
