package io.coracle.sandbox;

import io.coracle.cri.ListedMap;
import io.coracle.sys.PrivateFiles;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * The sandboxes: in memory by id, on disk as rootDir/ID/sandbox.json (temp, fsync, rename), and
 * the reserved pod names (name_namespace_uid_attempt → id). Read-only to everything but this module.
 */
public final class SandboxStore {
    private static final Logger LOG = Logger.getLogger(SandboxStore.class.getName());
    static final String FILE = "sandbox.json";
    static final String INTENT = "intent.json";
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private final Path rootDir;
    private final ListedMap<Sandbox> byId = new ListedMap<>();
    private final Map<String, String> names = new ConcurrentHashMap<>();
    private final Map<String, ReentrantReadWriteLock> locks = new ConcurrentHashMap<>();

    SandboxStore(Path rootDir) {
        this.rootDir = rootDir;
    }

    /** The sandbox with this exact id. */
    public Optional<Sandbox> get(String id) {
        return id == null ? Optional.empty() : Optional.ofNullable(byId.get(id));
    }

    /** The sandbox with this id or unique id prefix (as crictl allows). */
    public Optional<Sandbox> find(String idOrPrefix) {
        if (idOrPrefix == null || idOrPrefix.isEmpty()) {
            return Optional.empty();
        }
        Sandbox exact = byId.get(idOrPrefix);
        if (exact != null) {
            return Optional.of(exact);
        }
        List<Sandbox> hits = byId.values().stream().filter(s -> s.id().startsWith(idOrPrefix)).toList();
        return hits.size() == 1 ? Optional.of(hits.getFirst()) : Optional.empty();
    }

    public Collection<Sandbox> all() {
        return byId.list();
    }

    /** Reserves a pod name for id; returns the id already holding it, if any. */
    Optional<String> reserve(String name, String id) {
        String prev = names.putIfAbsent(name, id);
        return prev == null || prev.equals(id) ? Optional.empty() : Optional.of(prev);
    }

    void release(String name, String id) {
        names.remove(name, id);
    }

    /** Per-sandbox lock: stop and remove of one pod hold it exclusively, its containers' create and start shared. */
    ReentrantReadWriteLock lock(String id) {
        return locks.computeIfAbsent(id, k -> new ReentrantReadWriteLock());
    }

    /**
     * The shared side of the pod's lock, for a container operation inside the pod: while held, the pod
     * is neither stopped nor removed. The holder checks that the pod still exists once it has it.
     */
    public Lock sharedLock(String id) {
        return lock(id).readLock();
    }

    /** Writes what an operation on the pod is about to do; fsync'd when {@code durable}. */
    void putIntent(SandboxIntent intent, boolean durable) throws IOException {
        Path dir = PrivateFiles.directory(dir(intent.id()));
        PrivateFiles.write(dir.resolve(INTENT), JSON.writeValueAsBytes(intent), durable);
    }

    /** The operation is done: its intent goes; so does the pod's record dir if nothing else is left in it. */
    void clearIntent(String id) throws IOException {
        Path dir = dir(id);
        Files.deleteIfExists(dir.resolve("." + INTENT + ".tmp"));
        Files.deleteIfExists(dir.resolve(INTENT));
        if (!Files.exists(dir.resolve(FILE))) {
            Files.deleteIfExists(dir.resolve("." + FILE + ".tmp"));
            Files.deleteIfExists(dir);
        }
    }

    /**
     * The intents of operations a crash interrupted (recovery). The ids of record dirs holding neither
     * a readable intent nor a record (a damaged intent, a crash mid-write) go to {@code damaged}.
     */
    List<SandboxIntent> intents(List<String> damaged) throws IOException {
        List<SandboxIntent> out = new ArrayList<>();
        if (!Files.isDirectory(rootDir)) {
            return out;
        }
        try (Stream<Path> dirs = Files.list(rootDir)) {
            for (Path d : dirs.toList()) {
                Path f = d.resolve(INTENT);
                if (!Files.isRegularFile(f)) {
                    if (!byId.containsKey(d.getFileName().toString())) {
                        damaged.add(d.getFileName().toString()); // no readable record and no intent
                    }
                    continue;
                }
                try {
                    out.add(JSON.readValue(f.toFile(), SandboxIntent.class));
                } catch (IOException e) {
                    LOG.warning("sandbox intent " + f + " unreadable: " + e.getMessage());
                    damaged.add(d.getFileName().toString());
                }
            }
        }
        return out;
    }

    Path dir(String id) {
        return rootDir.resolve(id);
    }

    /** Writes the record durably, then publishes it in memory. */
    void put(Sandbox s) throws IOException {
        put(s, true);
    }

    /**
     * Writes the record (atomically; fsync'd when durable), then publishes it in memory. Stop
     * skips the fsync: an older record after a crash only repeats an idempotent stop.
     */
    void put(Sandbox s, boolean durable) throws IOException {
        Path dir = dir(s.id());
        PrivateFiles.directory(dir);
        PrivateFiles.write(dir.resolve(FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(s), durable);
        byId.put(s.id(), s);
    }

    /** Forgets the sandbox and deletes its record. */
    void delete(Sandbox s) throws IOException {
        Path dir = dir(s.id());
        Files.deleteIfExists(dir.resolve("." + FILE + ".tmp"));
        Files.deleteIfExists(dir.resolve(FILE));
        Files.deleteIfExists(dir.resolve("." + INTENT + ".tmp"));
        Files.deleteIfExists(dir.resolve(INTENT));
        Files.deleteIfExists(dir);
        byId.remove(s.id());
        names.remove(s.reservedName(), s.id());
        locks.remove(s.id());
    }

    /** Reads every record under the root dir (recovery); unreadable ones are logged and skipped. */
    List<Sandbox> load() throws IOException {
        List<Sandbox> out = new ArrayList<>();
        if (!Files.isDirectory(rootDir)) {
            return out;
        }
        try (Stream<Path> dirs = Files.list(rootDir)) {
            for (Path d : dirs.toList()) {
                Path f = d.resolve(FILE);
                if (!Files.isRegularFile(f)) {
                    continue;
                }
                PrivateFiles.restrict(d);
                PrivateFiles.restrict(f);
                try {
                    Sandbox s = JSON.readValue(f.toFile(), Sandbox.class);
                    byId.put(s.id(), s);
                    names.put(s.reservedName(), s.id());
                    out.add(s);
                } catch (IOException e) {
                    LOG.warning("sandbox record " + f + " unreadable, skipped: " + e.getMessage());
                }
            }
        }
        return out;
    }
}
