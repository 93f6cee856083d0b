package io.coracle.sandbox;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Set;
import java.util.TreeSet;

/**
 * What this host can give a cgroup, read once at start-up: its online CPUs and memory nodes (for
 * cpuset_cpus and cpuset_mems) and its huge page sizes in KiB (for hugepage limits).
 */
public record HostResources(BitSet cpus, BitSet mems, Set<Long> hugepageKiB) {

    public static HostResources read() {
        return read(Path.of("/sys"));
    }

    static HostResources read(Path sys) {
        BitSet cpus = listOrEmpty(sys.resolve("devices/system/cpu/online"));
        BitSet mems = listOrEmpty(sys.resolve("devices/system/node/online"));
        if (mems.isEmpty()) {
            mems.set(0); // no NUMA: node 0 only
        }
        Set<Long> sizes = new TreeSet<>();
        try (DirectoryStream<Path> d = Files.newDirectoryStream(sys.resolve("kernel/mm/hugepages"), "hugepages-*kB")) {
            for (Path p : d) {
                String n = p.getFileName().toString();
                sizes.add(Long.parseLong(n.substring("hugepages-".length(), n.length() - 2)));
            }
        } catch (IOException | NumberFormatException e) {
            // no huge pages on this host
        }
        return new HostResources(cpus, mems, Set.copyOf(sizes));
    }

    private static BitSet listOrEmpty(Path file) {
        try {
            return parseList(Files.readString(file).trim());
        } catch (IOException | IllegalArgumentException e) {
            return new BitSet();
        }
    }

    /** A kernel list ("0-3,8,10-11"); IllegalArgumentException when malformed. */
    public static BitSet parseList(String list) {
        BitSet set = new BitSet();
        if (list.isEmpty()) {
            return set;
        }
        if (list.length() > 4096) {
            throw new IllegalArgumentException("longer than 4096 characters");
        }
        for (String part : list.split(",", -1)) {
            if (!part.matches("\\d{1,5}(-\\d{1,5})?")) {
                throw new IllegalArgumentException("'" + part + "' is not a number or a range like 0-3");
            }
            int dash = part.indexOf('-');
            int from = Integer.parseInt(dash < 0 ? part : part.substring(0, dash));
            int to = dash < 0 ? from : Integer.parseInt(part.substring(dash + 1));
            if (to < from) {
                throw new IllegalArgumentException("range '" + part + "' ends before it starts");
            }
            set.set(from, to + 1);
        }
        return set;
    }

    /** The kernel's list form of a set: {0,1,2,5} → "0-2,5". */
    public static String format(BitSet set) {
        StringBuilder b = new StringBuilder();
        for (int from = set.nextSetBit(0); from >= 0; from = set.nextSetBit(set.nextClearBit(from))) {
            int to = set.nextClearBit(from) - 1;
            b.append(b.isEmpty() ? "" : ",").append(from).append(from == to ? "" : "-" + to);
        }
        return b.toString();
    }

    /** "2MB", "1GB", "64KB" (the kubelet's spelling) in KiB; -1 when not a page size. */
    public static long pageSizeKiB(String size) {
        var m = java.util.regex.Pattern.compile("(\\d{1,7})([KMG])B").matcher(size);
        if (!m.matches()) {
            return -1;
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "K" -> n;
            case "M" -> n * 1024;
            default -> n * 1024 * 1024;
        };
    }
}
