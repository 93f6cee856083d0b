package io.coracle.runtime.container;

import io.coracle.cri.ListedMap;
import io.coracle.sys.PrivateFiles;
import io.coracle.oci.OciJson;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * Container records, indexed by ID and by reserved name, persisted one directory per container
 * under {@code <root>/containers}. Names are reserved before a create does its work, so a second
 * create with the same name fails fast instead of racing.
 */
public final class ContainerStore {
    private static final Logger LOG = Logger.getLogger(ContainerStore.class.getName());

    private final Path dir;
    private final ListedMap<ContainerRecord> byId = new ListedMap<>();
    private final Map<String, String> names = new ConcurrentHashMap<>();

    private final java.util.concurrent.locks.ReentrantLock[] processLocks = new java.util.concurrent.locks.ReentrantLock[64];

    public ContainerStore(Path root) throws IOException {
        for (int i = 0; i < processLocks.length; i++) {
            processLocks[i] = new java.util.concurrent.locks.ReentrantLock();
        }
        this.dir = root.resolve("containers");
        PrivateFiles.directory(dir);
    }

    /**
     * Held while a container's process is made, started, given new resources before it exists, or
     * removed: StartContainer's shim creation never races a second start, an update or a removal.
     */
    java.util.concurrent.locks.Lock processLock(String id) {
        return processLocks[Math.floorMod(id.hashCode(), processLocks.length)];
    }

    public Path containerDir(String id) {
        return dir.resolve(id);
    }

    /** Loads every record on disk; a directory without a readable record is a half-made container, returned for cleanup. */
    public List<Path> load() throws IOException {
        List<Path> orphans = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path entry : entries) {
                for (Path p : List.of(entry, entry.resolve("meta.json"), entry.resolve("bundle"),
                        entry.resolve("bundle/config.json"))) {
                    PrivateFiles.restrict(p); // an older install left them readable
                }
                try {
                    ContainerRecord r = OciJson.read(entry.resolve("meta.json"), ContainerRecord.class);
                    byId.put(r.id(), r);
                    names.put(r.reservedName(), r.id());
                } catch (NoSuchFileException e) {
                    orphans.add(entry);
                } catch (IOException e) {
                    LOG.warning("container record " + entry + " unreadable: " + e.getMessage());
                    orphans.add(entry);
                }
            }
        }
        return orphans;
    }

    /** Reserves {@code name} for {@code id}; returns the ID already holding it, if any. */
    public Optional<String> reserve(String reservedName, String id) {
        String holder = names.putIfAbsent(reservedName, id);
        return holder == null || holder.equals(id) ? Optional.empty() : Optional.of(holder);
    }

    public void unreserve(String reservedName, String id) {
        names.remove(reservedName, id);
    }

    /**
     * Not fsync'd: a daemon's crash keeps it (the page cache), and after a node's crash, whose containers are
     * all dead, a record lost with it leaves a directory start-up removes as a create never finished.
     */
    public void put(ContainerRecord r) throws IOException {
        PrivateFiles.write(containerDir(r.id()).resolve("meta.json"), OciJson.MAPPER.writeValueAsBytes(r), false);
        byId.put(r.id(), r);
    }

    public Optional<ContainerRecord> get(String id) {
        return Optional.ofNullable(byId.get(id));
    }

    /** By full ID or a unique ID prefix, as crictl allows. */
    public Optional<ContainerRecord> find(String idOrPrefix) {
        ContainerRecord exact = byId.get(idOrPrefix);
        if (exact != null || idOrPrefix.isEmpty()) {
            return Optional.ofNullable(exact);
        }
        List<ContainerRecord> hits = byId.values().stream().filter(r -> r.id().startsWith(idOrPrefix)).toList();
        return hits.size() == 1 ? Optional.of(hits.get(0)) : Optional.empty();
    }

    public List<ContainerRecord> list() {
        return byId.list();
    }

    public void delete(ContainerRecord r) throws IOException {
        Files.deleteIfExists(containerDir(r.id()).resolve("meta.json"));
        byId.remove(r.id());
        names.remove(r.reservedName(), r.id());
    }
}
