package io.coracle.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Pure cgroup v2: one hierarchy (the shim delegates controllers down through cgroup.subtree_control). */
public record CgroupV2(Path root) implements Cgroups {
    @Override
    public boolean v2() {
        return true;
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

    @Override
    public String read(String path, String file) throws IOException {
        return CgroupFiles.readText(CgroupFiles.under(root, path), file);
    }
}
