package io.coracle.runtime.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/** What /proc says about a runtime's processes: who they are, their RSS/PSS and CPU time. */
final class ProcessTree {
    private static final long TICKS_PER_SECOND = 100; // USER_HZ on Linux

    private ProcessTree() {}

    /** One process: its command name, parent, RSS and PSS in KiB, CPU ticks (own, and of its reaped children). */
    record Proc(long pid, String comm, long ppid, long rssKiB, long pssKiB, long cpuTicks, long childTicks) {}

    /** Every live process whose command line contains {@code text}. */
    static List<Long> matching(String text) throws IOException {
        List<Long> out = new ArrayList<>();
        for (long pid : pids()) {
            try {
                String cmd = new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                        StandardCharsets.UTF_8).replace('\0', ' ');
                if (cmd.contains(text)) {
                    out.add(pid);
                }
            } catch (IOException e) {
                // exited meanwhile
            }
        }
        return out;
    }

    /** {@code roots} and all their descendants (by parent PID), as now. */
    static Set<Long> withDescendants(List<Long> roots) throws IOException {
        Map<Long, List<Long>> children = new HashMap<>();
        for (long pid : pids()) {
            long ppid = ppid(pid);
            if (ppid > 0) {
                children.computeIfAbsent(ppid, k -> new ArrayList<>()).add(pid);
            }
        }
        Set<Long> out = new LinkedHashSet<>();
        List<Long> todo = new ArrayList<>(roots);
        while (!todo.isEmpty()) {
            long p = todo.removeLast();
            if (out.add(p)) {
                todo.addAll(children.getOrDefault(p, List.of()));
            }
        }
        return out;
    }

    /**
     * A runtime's own processes: the daemon, every process whose command line names its private
     * directory (shims, monitors), and their descendants, without the containers' workloads
     * ({@code sh}, {@code sleep}: the benchmark's container command).
     */
    static List<Proc> runtime(long daemonPid, Path dir) throws IOException {
        List<Long> roots = new ArrayList<>(matching(dir.toString()));
        roots.add(daemonPid);
        List<Proc> out = new ArrayList<>();
        for (long pid : withDescendants(roots)) {
            Proc p = read(pid);
            if (p != null && !p.comm().equals("sh") && !p.comm().equals("sleep")) {
                out.add(p);
            }
        }
        return out;
    }

    static Proc read(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // f[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
            long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
            long child = Long.parseLong(f[13]) + Long.parseLong(f[14]);
            long rss = 0;
            long pss = 0;
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps_rollup"))) {
                if (line.startsWith("Rss:")) {
                    rss = Long.parseLong(line.replaceAll("\\D", ""));
                } else if (line.startsWith("Pss:")) {
                    pss = Long.parseLong(line.replaceAll("\\D", ""));
                }
            }
            return new Proc(pid, comm, Long.parseLong(f[1]), rss, pss, ticks, child);
        } catch (IOException | RuntimeException e) {
            return null; // exited meanwhile
        }
    }

    /** CPU seconds used so far by these processes (and the children they reaped). */
    static double cpuSeconds(List<Long> pids) {
        long ticks = 0;
        for (long pid : pids) {
            Proc p = read(pid);
            if (p != null) {
                ticks += p.cpuTicks() + p.childTicks();
            }
        }
        return ticks / (double) TICKS_PER_SECOND;
    }

    private static long ppid(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[1]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static List<Long> pids() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc"))) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.chars().allMatch(Character::isDigit))
                    .map(Long::parseLong).toList();
        }
    }
}
