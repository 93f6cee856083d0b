package io.coracle.runtime.container;

import io.coracle.cri.v1.ContainerState;
import io.coracle.shim.ExitRecord;
import io.coracle.shim.ShimClient;
import io.coracle.shim.ShimStateFile;
import io.coracle.sys.PidFds;
import io.coracle.sys.Syscalls;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A container's run state as its shim's files tell it, without a round trip to the shim. The files
 * are parsed once each: the shim replaces state.json atomically (a new inode and mtime), so a stat
 * tells whether the copy in memory is current; exit.json is final once written.
 */
record ContainerStates(ContainerState state, Optional<ShimStateFile> shim, Optional<ExitRecord> exit) {

    /** state.json as last parsed, with the identity of the file it came from. */
    private record Parsed(Object inode, long mtimeNanos, long size, ShimStateFile state) {}

    private static final Map<Path, Parsed> STATES = new ConcurrentHashMap<>();
    private static final Map<Path, ExitRecord> EXITS = new ConcurrentHashMap<>();

    /**
     * The container's state: its shim's files; without a live shim, a container whose start is still
     * pending ({@link ContainerStartPlan}) is CREATED (no shim), one whose start failed EXITED (128).
     */
    static ContainerStates of(ContainerRecord r, ContainerStore store) {
        Optional<ExitRecord> exit = exitRecord(r.stateDir());
        if (exit.isEmpty()) {
            // A running container's state.json changes only as it exits, and its exit.json is written then:
            // while there is none and the shim lives, the running state last read holds (no stat of state.json).
            Parsed known = STATES.get(r.stateDir());
            if (known != null && known.state().status().equals("running") && alive(known.state())) {
                return new ContainerStates(ContainerState.CONTAINER_RUNNING, Optional.of(known.state()), exit);
            }
        }
        Optional<ShimStateFile> shim = stateFile(r.stateDir());
        if (exit.isPresent()) {
            return new ContainerStates(ContainerState.CONTAINER_EXITED, shim, exit);
        }
        if (shim.isEmpty() || !alive(shim.get())) {
            Path dir = store.containerDir(r.id());
            if (ContainerStartPlan.pending(dir)) {
                return new ContainerStates(ContainerState.CONTAINER_CREATED, Optional.empty(), exit);
            }
            Optional<ExitRecord> failed = startFailure(r, dir);
            if (failed.isPresent()) {
                return new ContainerStates(ContainerState.CONTAINER_EXITED, Optional.empty(), failed);
            }
            // No exit record and no shim: it died without a word (or the node rebooted).
            return new ContainerStates(ContainerState.CONTAINER_UNKNOWN, shim, exit);
        }
        ContainerState state = switch (shim.get().status()) {
            case "created" -> ContainerState.CONTAINER_CREATED;
            case "running" -> ContainerState.CONTAINER_RUNNING;
            case "stopped" -> ContainerState.CONTAINER_EXITED;
            default -> ContainerState.CONTAINER_UNKNOWN;
        };
        return new ContainerStates(state, shim, exit);
    }

    /** How many containers' files are remembered (at most one entry of each kind per container). */
    static int remembered() {
        return Math.max(STATES.size(), EXITS.size());
    }

    /** Drops what is remembered of containers whose state dirs are not in {@code live}. */
    static void retain(Set<Path> live) {
        STATES.entrySet().removeIf(e -> {
            if (live.contains(e.getKey())) {
                return false;
            }
            PidFds.forget(e.getValue().state().shimPid(), e.getValue().state().createdAt()); // its pidfd too
            return true;
        });
        EXITS.keySet().retainAll(live);
    }

    private static Optional<ExitRecord> exitRecord(Path stateDir) {
        ExitRecord known = EXITS.get(stateDir);
        if (known != null) {
            return Optional.of(known);
        }
        if (!Files.exists(stateDir.resolve("exit.json"))) {
            return Optional.empty();
        }
        try {
            Optional<ExitRecord> read = new ShimClient(stateDir).exitRecord();
            read.ifPresent(e -> EXITS.put(stateDir, e));
            return read;
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The exit of a container whose start failed: 128, never started, finished when the failure was recorded. */
    private static Optional<ExitRecord> startFailure(ContainerRecord r, Path containerDir) {
        try {
            long finished = Files.getLastModifiedTime(containerDir.resolve(ContainerStartPlan.START_ERROR),
                    java.nio.file.LinkOption.NOFOLLOW_LINKS).to(java.util.concurrent.TimeUnit.NANOSECONDS);
            ExitRecord e = new ExitRecord(0, ContainerStartPlan.START_ERROR_EXIT_CODE, 0, false, r.createdAtNanos(), 0,
                    finished);
            EXITS.put(r.stateDir(), e);
            return Optional.of(e);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static Optional<ShimStateFile> stateFile(Path stateDir) {
        Path file = stateDir.resolve("state.json");
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            long mtime = a.lastModifiedTime().to(java.util.concurrent.TimeUnit.NANOSECONDS);
            Parsed p = STATES.get(stateDir);
            if (p != null && p.inode().equals(a.fileKey()) && p.mtimeNanos() == mtime && p.size() == a.size()) {
                return Optional.of(p.state());
            }
            ShimStateFile state = new ShimClient(stateDir).stateFile();
            // Remember it only if the file did not change while it was read.
            BasicFileAttributes after = Files.readAttributes(file, BasicFileAttributes.class);
            if (after.fileKey().equals(a.fileKey()) && after.lastModifiedTime().equals(a.lastModifiedTime())) {
                STATES.put(stateDir, new Parsed(a.fileKey(), mtime, a.size(), state));
            }
            return Optional.of(state);
        } catch (NoSuchFileException e) {
            STATES.remove(stateDir);
            return Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The shim runs: a pidfd held from the first check on answers from memory (no /proc read per call). */
    private static boolean alive(ShimStateFile shim) {
        int pid = shim.shimPid();
        return pid > 0 && PidFds.running(pid, shim.createdAt(), () -> aliveInProc(pid));
    }

    /** Running, not a zombie: a killed shim waits as a zombie until the host's init reaps it, sometimes late. */
    private static boolean aliveInProc(int pid) {
        if (!Syscalls.alive(pid)) {
            return false;
        }
        try {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", String.valueOf(pid), "stat"));
            return !stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
