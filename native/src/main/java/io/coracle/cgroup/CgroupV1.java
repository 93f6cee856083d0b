package io.coracle.cgroup;

import io.coracle.oci.Resources;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
    public void create(String path, Resources resources) throws IOException {
        for (Path h : hierarchies.values()) {
            Path d = CgroupFiles.under(h, path);
            Files.createDirectories(d);
        }
        Path cpuset = dir("cpuset", path);
        if (cpuset != null) {
            inheritCpuset(hierarchies.get("cpuset"), cpuset);
        }
        update(path, resources);
    }

    /** A new v1 cpuset starts with empty cpus and mems: copy them down level by level. */
    private static void inheritCpuset(Path root, Path leaf) throws IOException {
        List<Path> chain = new ArrayList<>();
        for (Path p = leaf; !p.equals(root); p = p.getParent()) {
            chain.addFirst(p);
        }
        for (Path p : chain) {
            for (String knob : List.of("cpuset.cpus", "cpuset.mems")) {
                if (Files.readString(p.resolve(knob)).isBlank()) {
                    CgroupFiles.write(p.resolve(knob), Files.readString(p.getParent().resolve(knob)).trim());
                }
            }
        }
    }

    @Override
    public void update(String path, Resources r) throws IOException {
        if (r == null) {
            return;
        }
        if (r.cpu() != null) {
            Path cpu = dir("cpu", path);
            if (cpu != null) {
                if (r.cpu().shares() != null && r.cpu().shares() > 0) {
                    CgroupFiles.write(cpu.resolve("cpu.shares"), r.cpu().shares().toString());
                }
                if (r.cpu().period() != null && r.cpu().period() > 0) {
                    CgroupFiles.write(cpu.resolve("cpu.cfs_period_us"), r.cpu().period().toString());
                }
                if (r.cpu().quota() != null && r.cpu().quota() != 0) {
                    CgroupFiles.write(cpu.resolve("cpu.cfs_quota_us"), String.valueOf(Math.max(-1, r.cpu().quota())));
                }
            }
            Path cpuset = dir("cpuset", path);
            if (cpuset != null && r.cpu().cpus() != null && !r.cpu().cpus().isEmpty()) {
                CgroupFiles.write(cpuset.resolve("cpuset.cpus"), r.cpu().cpus());
            }
            if (cpuset != null && r.cpu().mems() != null && !r.cpu().mems().isEmpty()) {
                CgroupFiles.write(cpuset.resolve("cpuset.mems"), r.cpu().mems());
            }
        }
        Path mem = dir("memory", path);
        if (r.memory() != null && mem != null) {
            if (r.memory().limit() != null && r.memory().limit() != 0) {
                CgroupFiles.write(mem.resolve("memory.limit_in_bytes"), String.valueOf(Math.max(-1, r.memory().limit())));
            }
            if (r.memory().swap() != null && r.memory().swap() != 0 && Files.exists(mem.resolve("memory.memsw.limit_in_bytes"))) {
                CgroupFiles.write(mem.resolve("memory.memsw.limit_in_bytes"), String.valueOf(Math.max(-1, r.memory().swap())));
            }
        }
        Path pids = dir("pids", path);
        if (r.pids() != null && pids != null) {
            CgroupFiles.write(pids.resolve("pids.max"), r.pids().limit() > 0 ? String.valueOf(r.pids().limit()) : "max");
        }
        if (r.hugepageLimits() != null) {
            for (Resources.HugepageLimit l : r.hugepageLimits()) {
                Path v1 = dir("hugetlb", path), v2 = dir("unified", path);
                if (v1 != null) {
                    CgroupFiles.write(v1.resolve("hugetlb." + l.pageSize() + ".limit_in_bytes"), String.valueOf(l.limit()));
                } else if (v2 != null && Files.exists(v2.resolve("hugetlb." + l.pageSize() + ".max"))) {
                    CgroupFiles.write(v2.resolve("hugetlb." + l.pageSize() + ".max"), String.valueOf(l.limit()));
                }
            }
        }
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
}
