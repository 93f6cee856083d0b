package io.coracle.cgroup;

import io.coracle.oci.Resources;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Pure cgroup v2: one hierarchy; controllers are delegated down through cgroup.subtree_control. */
public record CgroupV2(Path root) implements Cgroups {
    @Override
    public boolean v2() {
        return true;
    }

    @Override
    public void create(String path, Resources resources) throws IOException {
        Path leaf = CgroupFiles.under(root, path);
        Files.createDirectories(leaf);
        String[] available = Files.readString(root.resolve("cgroup.controllers")).trim().split("\\s+");
        for (Path p = leaf.getParent(); p.startsWith(root); p = p.getParent()) {
            for (String c : available) {
                try {
                    Files.writeString(p.resolve("cgroup.subtree_control"), "+" + c);
                } catch (IOException e) {
                    // Some controllers cannot be enabled where processes live: go on without them.
                }
            }
            if (p.equals(root)) {
                break;
            }
        }
        update(path, resources);
    }

    @Override
    public void update(String path, Resources r) throws IOException {
        if (r == null) {
            return;
        }
        Path d = CgroupFiles.under(root, path);
        if (r.cpu() != null) {
            if (r.cpu().shares() != null && r.cpu().shares() > 0) {
                CgroupFiles.write(d.resolve("cpu.weight"), String.valueOf(1 + ((r.cpu().shares() - 2) * 9999) / 262142));
            }
            long period = r.cpu().period() != null && r.cpu().period() > 0 ? r.cpu().period() : 100_000;
            if (r.cpu().quota() != null && r.cpu().quota() != 0) {
                CgroupFiles.write(d.resolve("cpu.max"), (r.cpu().quota() > 0 ? r.cpu().quota().toString() : "max") + " " + period);
            }
            if (r.cpu().cpus() != null && !r.cpu().cpus().isEmpty()) {
                CgroupFiles.write(d.resolve("cpuset.cpus"), r.cpu().cpus());
            }
            if (r.cpu().mems() != null && !r.cpu().mems().isEmpty()) {
                CgroupFiles.write(d.resolve("cpuset.mems"), r.cpu().mems());
            }
        }
        long limit = 0;
        if (r.memory() != null && r.memory().limit() != null && r.memory().limit() != 0) {
            limit = r.memory().limit();
            CgroupFiles.write(d.resolve("memory.max"), limit > 0 ? String.valueOf(limit) : "max");
        }
        if (r.memory() != null && r.memory().swap() != null && r.memory().swap() != 0) {
            long swap = r.memory().swap();
            // The spec's swap is memory+swap (v1); v2 limits the swap alone.
            CgroupFiles.write(d.resolve("memory.swap.max"), swap > 0 && limit > 0 ? String.valueOf(Math.max(0, swap - limit)) : "max");
        }
        if (r.pids() != null) {
            CgroupFiles.write(d.resolve("pids.max"), r.pids().limit() > 0 ? String.valueOf(r.pids().limit()) : "max");
        }
        if (r.hugepageLimits() != null) {
            for (Resources.HugepageLimit l : r.hugepageLimits()) {
                CgroupFiles.write(d.resolve("hugetlb." + l.pageSize() + ".max"), String.valueOf(l.limit()));
            }
        }
        if (r.unified() != null) {
            for (var file : r.unified().entrySet()) {
                if (file.getKey().isEmpty() || file.getKey().startsWith(".") || file.getKey().contains("/")) {
                    throw new IOException("unified: '" + file.getKey() + "' is not a cgroup file name");
                }
                CgroupFiles.write(d.resolve(file.getKey()), file.getValue());
            }
        }
    }

    @Override
    public CgroupStats stats(String path) throws IOException {
        Path d = CgroupFiles.under(root, path);
        long usage = CgroupFiles.readLong(d.resolve("memory.current"), 0);
        long inactive = CgroupFiles.readKey(d.resolve("memory.stat"), "inactive_file", 0);
        long cpuUsec = CgroupFiles.readKey(d.resolve("cpu.stat"), "usage_usec", 0);
        long pids = CgroupFiles.readLong(d.resolve("pids.current"), 0);
        long oom = CgroupFiles.readKey(d.resolve("memory.events"), "oom_kill", 0);
        return new CgroupStats(usage, Math.max(0, usage - inactive), cpuUsec * 1000, pids, oom);
    }

    @Override
    public List<Integer> pids(String path) throws IOException {
        List<Integer> out = new ArrayList<>();
        Path procs = CgroupFiles.under(root, path).resolve("cgroup.procs");
        if (Files.exists(procs)) {
            for (String line : Files.readAllLines(procs)) {
                if (!line.isBlank()) {
                    out.add(Integer.parseInt(line.trim()));
                }
            }
        }
        return out;
    }

    @Override
    public void remove(String path) throws IOException {
        CgroupFiles.removeDir(CgroupFiles.under(root, path));
    }

    @Override
    public boolean exists(String path) {
        return Files.isDirectory(CgroupFiles.under(root, path));
    }
}
