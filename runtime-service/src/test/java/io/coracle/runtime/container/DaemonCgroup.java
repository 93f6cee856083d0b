package io.coracle.runtime.container;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * A cgroup of the daemon's own, in every hierarchy mounted here (each v1 hierarchy and the unified one on a
 * hybrid host, /sys/fs/cgroup itself on a pure v2 host), as systemd gives a unit; and the kill systemd's
 * stop of a control-group unit and a DaemonSet roll do: SIGKILL every process listed in it until none is
 * left ({@code cgroup.kill} first where the kernel has it, as systemd does on v2).
 */
public final class DaemonCgroup implements AutoCloseable {
    private static final Path CGROUP_ROOT = Path.of("/sys/fs/cgroup");

    private final String name;
    private final List<Path> dirs = new ArrayList<>();

    private DaemonCgroup(String name) {
        this.name = name;
    }

    /** Creates coracle-test-daemon-RANDOM in every hierarchy (a v1 cpuset gets its parent's cpus and mems). */
    public static DaemonCgroup create() throws IOException {
        DaemonCgroup g = new DaemonCgroup("coracle-test-daemon-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000, 0x100000)));
        try {
            for (Path hierarchy : hierarchies()) {
                Path dir = Files.createDirectory(hierarchy.resolve(g.name));
                g.dirs.add(dir);
                for (String knob : List.of("cpuset.cpus", "cpuset.mems")) { // a new v1 cpuset starts empty
                    if (Files.exists(dir.resolve(knob)) && !Files.exists(hierarchy.resolve("cgroup.controllers"))) {
                        Files.writeString(dir.resolve(knob), Files.readString(hierarchy.resolve(knob)).trim());
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            g.close();
            throw e;
        }
        return g;
    }

    public String name() {
        return name;
    }

    /** Moves {@code pid} into this cgroup in every hierarchy, and checks /proc says so. */
    public void enter(long pid) throws IOException {
        for (Path dir : dirs) {
            Files.writeString(dir.resolve("cgroup.procs"), Long.toString(pid));
        }
        String cgroups = Files.readString(Path.of("/proc", Long.toString(pid), "cgroup"));
        assertTrue(cgroups.contains("/" + name), pid + " is in " + name + ": " + cgroups);
    }

    /** The processes listed in this cgroup, in any hierarchy. */
    public Set<Long> pids() throws IOException {
        Set<Long> pids = new LinkedHashSet<>();
        for (Path dir : dirs) {
            for (String line : Files.readAllLines(dir.resolve("cgroup.procs"))) {
                if (!line.isBlank()) {
                    pids.add(Long.parseLong(line.trim()));
                }
            }
        }
        return pids;
    }

    /** SIGKILLs every process of the cgroup until none is left; returns the pids killed. */
    public List<Long> killAll() throws IOException, InterruptedException {
        List<Long> killed = new ArrayList<>(pids());
        for (Path dir : dirs) {
            if (Files.exists(dir.resolve("cgroup.kill"))) {
                Files.writeString(dir.resolve("cgroup.kill"), "1");
            }
        }
        Set<Long> left = pids();
        for (int round = 0; !left.isEmpty(); round++) {
            assertTrue(round < 100, "processes survive SIGKILL in " + name + ": " + describe(left));
            for (long pid : left) {
                ProcessHandle.of(pid).ifPresent(p -> {
                    if (!killed.contains(pid)) {
                        killed.add(pid);
                    }
                    p.destroyForcibly(); // SIGKILL
                });
            }
            Thread.sleep(20);
            left = pids();
        }
        return killed;
    }

    /** Removes the (empty) cgroup from every hierarchy. */
    @Override
    public void close() throws IOException {
        for (Path dir : dirs) {
            Files.deleteIfExists(dir);
        }
        for (Path dir : dirs) {
            assertTrue(!Files.exists(dir), "left behind: " + dir);
        }
    }

    /** Every cgroup hierarchy mounted here: /sys/fs/cgroup itself on v2, each mounted v1 hierarchy (and unified/) otherwise. */
    static List<Path> hierarchies() throws IOException {
        if (Files.exists(CGROUP_ROOT.resolve("cgroup.controllers"))) {
            return List.of(CGROUP_ROOT);
        }
        try (Stream<Path> s = Files.list(CGROUP_ROOT)) {
            return s.filter(p -> !Files.isSymbolicLink(p) && Files.exists(p.resolve("cgroup.procs"))).sorted().toList();
        }
    }

    /** Each pid with its command line and cgroups, for a failure message. */
    public static String describe(Set<Long> pids) {
        StringBuilder b = new StringBuilder();
        for (long pid : pids) {
            Path proc = Path.of("/proc", Long.toString(pid));
            try {
                b.append("\n").append(pid).append(' ')
                        .append(Files.readString(proc.resolve("cmdline")).replace('\0', ' '))
                        .append("\n").append(Files.readString(proc.resolve("cgroup")));
            } catch (IOException e) {
                b.append("\n").append(pid).append(" (gone)");
            }
        }
        return b.toString();
    }
}
