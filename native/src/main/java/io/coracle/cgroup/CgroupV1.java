package io.coracle.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * cgroup v1: one hierarchy per controller under /sys/fs/cgroup/<name> (combined mounts such as
 * cpu,cpuacct count once), plus the hybrid cgroup2 mount at unified/ (here: hugetlb only).
 */
public record CgroupV1(Path root, Map<String, Path> hierarchies) implements Cgroups {

    static CgroupV1 mounted(Path root) throws IOException {
        Map<String, Path> found = new TreeMap<>();
        try (Stream<Path> s = Files.list(root)) {
            for (Path p : s.toList()) {
                if (!Files.isSymbolicLink(p) && Files.isDirectory(p) && Files.exists(p.resolve("cgroup.procs"))) {
                    found.put(p.getFileName().toString(), p);
                }
            }
        }
        return new CgroupV1(root, found);
    }

    @Override
    public boolean v2() {
        return false;
    }

    private Path dir(String controller, String path) {
        Path h = hierarchies.get(controller);
        return h == null ? null : CgroupFiles.under(h, path);
    }

    @Override
    public CgroupStats stats(String path) throws IOException {
        Path mem = dir("memory", path), acct = dir("cpuacct", path), pids = dir("pids", path);
        long usage = mem == null ? 0 : CgroupFiles.readLong(mem.resolve("memory.usage_in_bytes"), 0);
        long inactive = mem == null ? 0 : CgroupFiles.readKey(mem.resolve("memory.stat"), "total_inactive_file", 0);
        long oom = mem == null ? 0 : CgroupFiles.readKey(mem.resolve("memory.oom_control"), "oom_kill", 0);
        long cpu = acct == null ? 0 : CgroupFiles.readLong(acct.resolve("cpuacct.usage"), 0);
        long n = pids == null ? 0 : CgroupFiles.readLong(pids.resolve("pids.current"), 0);
        return new CgroupStats(usage, Math.max(0, usage - inactive), cpu, n, oom);
    }

    @Override
    public List<Integer> pids(String path) throws IOException {
        Set<Integer> all = new LinkedHashSet<>();
        for (Path h : hierarchies.values()) {
            Path procs = CgroupFiles.under(h, path).resolve("cgroup.procs");
            if (Files.exists(procs)) {
                for (String line : Files.readAllLines(procs)) {
                    if (!line.isBlank()) {
                        all.add(Integer.parseInt(line.trim()));
                    }
                }
            }
        }
        return List.copyOf(all);
    }

    @Override
    public void remove(String path) throws IOException {
        for (Path h : hierarchies.values()) {
            CgroupFiles.removeDir(CgroupFiles.under(h, path));
        }
    }

    @Override
    public boolean exists(String path) {
        return hierarchies.values().stream().anyMatch(h -> Files.isDirectory(CgroupFiles.under(h, path)));
    }

    @Override
    public String read(String path, String file) throws IOException {
        for (Path h : hierarchies.values()) {
            String text = CgroupFiles.readText(CgroupFiles.under(h, path), file);
            if (text != null) {
                return text;
            }
        }
        return null;
    }
}
