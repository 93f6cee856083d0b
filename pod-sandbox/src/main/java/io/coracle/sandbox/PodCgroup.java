package io.coracle.sandbox;

import io.coracle.cgroup.CgroupCreator;
import io.coracle.cgroup.CgroupV1;
import io.coracle.cgroup.CgroupV2;
import io.coracle.cgroup.Cgroups;
import io.coracle.cgroup.systemd.SystemdUnits;
import io.coracle.cri.v1.HugepageLimit;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.oci.Resources;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Pod cgroups: the pod cgroup (the kubelet's cgroup_parent, or a Coracle default) and the pause
 * process's leaf under it, on cgroup v1 (every mounted hierarchy) or v2. With the systemd driver,
 * slice names are expanded to their cgroupfs paths, the pod cgroup is a slice and the pause leaf a
 * scope ({@code coracle-<sandbox id>.scope}, Delegate=yes), both started through systemd's D-Bus
 * API; the pod's shims join the pause scope, so that no stop or restart of coracle.service reaches them.
 */
final class PodCgroup {
    /** Creation and removal of shared ancestors must not interleave between pods. */
    private static final Object TREE_LOCK = new Object();

    private final Cgroups cgroups;
    private final CgroupCreator creator;
    private final SandboxConfig.CgroupDriver driver;
    private final SystemdUnits systemd; // null: cgroupfs, or systemd's names written directly (tests without systemd)

    PodCgroup(Cgroups cgroups, CgroupCreator creator, SandboxConfig.CgroupDriver driver, SystemdUnits systemd) {
        this.cgroups = cgroups;
        this.creator = creator;
        this.driver = driver;
        this.systemd = driver == SandboxConfig.CgroupDriver.SYSTEMD ? systemd : null;
    }

    PodCgroup(Cgroups cgroups, CgroupCreator creator, SandboxConfig.CgroupDriver driver) {
        this(cgroups, creator, driver, null);
    }

    /** What a pod's cgroups are called: the pod cgroup and the pause leaf, as cgroupfs paths. */
    record Names(String pod, String pause) {}

    Names names(String cgroupParent, String defaultParent, String sandboxId) {
        if (driver == SandboxConfig.CgroupDriver.SYSTEMD) {
            String slice = cgroupParent.isEmpty()
                    ? defaultParent.replaceFirst("\\.slice$", "") + "-pod" + sandboxId + ".slice"
                    : cgroupParent;
            String pod = expandSlice(slice);
            return new Names(pod, pod + "/coracle-" + sandboxId + ".scope");
        }
        String pod = cgroupParent.isEmpty() ? join(defaultParent, "pod-" + sandboxId) : normalize(cgroupParent);
        return new Names(pod, pod + "/" + sandboxId);
    }

    /** kubepods-burstable-pod1.slice → /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice */
    static String expandSlice(String slice) {
        if (!slice.endsWith(".slice") || slice.contains("/")) {
            throw new IllegalArgumentException("cgroup parent '" + slice + "' is not a systemd slice name (like kubepods-pod1.slice)");
        }
        String base = slice.substring(0, slice.length() - ".slice".length());
        if (base.equals("-")) {
            return "/";
        }
        if (base.isEmpty() || base.startsWith("-") || base.endsWith("-") || base.contains("--")) {
            throw new IllegalArgumentException("cgroup parent '" + slice + "' is not a valid systemd slice name");
        }
        StringBuilder path = new StringBuilder();
        String prefix = "";
        for (String part : base.split("-")) {
            prefix = prefix.isEmpty() ? part : prefix + "-" + part;
            path.append('/').append(prefix).append(".slice");
        }
        return path.toString();
    }

    private static String normalize(String p) {
        if (p.contains("..")) {
            throw new IllegalArgumentException("cgroup parent '" + p + "' contains '..'");
        }
        String s = ("/" + p).replaceAll("/+", "/");
        return s.length() > 1 && s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
    }

    private static String join(String parent, String child) {
        return normalize(parent + "/" + child);
    }

    /**
     * Creates the pod cgroup (with resources + overhead when Coracle creates it; a kubelet-made one
     * keeps its own limits) and the pause leaf. Returns the topmost cgroup created, or null.
     */
    String create(Names n, LinuxContainerResources resources, LinuxContainerResources overhead) throws IOException {
        if (systemd != null) {
            return createUnits(n, podResources(resources, overhead));
        }
        synchronized (TREE_LOCK) {
            String createdFrom = null;
            for (String p = n.pod(); !p.equals("/") && !cgroups.exists(p); p = parentOf(p)) {
                createdFrom = p;
            }
            // The shim's cgroup code writes the limits, as for containers. A pod cgroup that exists
            // (the kubelet's) keeps its own; the pause leaf's creation makes any missing directories.
            if (createdFrom != null) {
                creator.create(n.pod(), podResources(resources, overhead));
            }
            try {
                creator.create(n.pause(), null);
            } catch (IOException e) {
                // The shim removed what it made of the leaf; the pod cgroups made just now go too.
                try {
                    remove(n, createdFrom);
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
                throw e;
            }
            return createdFrom == null ? n.pause() : createdFrom;
        }
    }

    /**
     * The systemd driver's pod cgroup: the pod slice, started with the pod's limits unless it exists
     * (the kubelet's, which keeps its own), then the pause leaf's directory, which the pause scope
     * adopts ({@link #addProcess}) and the shims join. Returns the pod slice's path if Coracle started it.
     */
    private String createUnits(Names n, Resources limits) throws IOException {
        String slice = leaf(n.pod());
        boolean started = systemd.startSlice(slice, limits);
        try {
            if (started && limits != null) {
                creator.create(n.pod(), limits); // the files systemd has no property for (hugetlb, v1 cpuset)
            }
            creator.create(n.pause(), null);
        } catch (IOException e) {
            if (started) {
                try {
                    systemd.stop(slice);
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
            }
            throw e;
        }
        return started ? n.pod() : n.pause();
    }

    private static String leaf(String path) {
        return path.equals("/") ? "-.slice" : path.substring(path.lastIndexOf('/') + 1);
    }

    void addProcess(String path, int pid) throws IOException {
        addToCgroup(path, pid);
        if (systemd != null) {
            String scope = leaf(path);
            systemd.startScope(scope, leaf(parentOf(path)), pid, "Coracle pod sandbox "
                    + scope.replaceFirst("^coracle-", "").replaceFirst("\\.scope$", ""), null);
        }
    }

    private void addToCgroup(String path, int pid) throws IOException {
        byte[] line = (pid + "\n").getBytes(StandardCharsets.UTF_8);
        for (Path dir : dirs(path)) {
            if (!Files.isDirectory(dir) && cgroups instanceof CgroupV1 v1) {
                // A hierarchy the pod has no cgroup in (the hybrid unified one): its root, as for the
                // shims, so that killing every process of the daemon's cgroup spares the pod.
                Path root = v1.hierarchies().values().stream().filter(dir::startsWith).findFirst().orElse(null);
                if (root == null || inRootCgroup2(root, pid)) {
                    continue;
                }
                dir = root;
            }
            // v1: "tasks" moves one thread without the threadgroup lock's RCU grace period; the pause
            // process is single-threaded, so that moves all of it. v2 (and hybrid unified/) has cgroup.procs only.
            Path procs = Files.exists(dir.resolve("tasks")) ? dir.resolve("tasks") : dir.resolve("cgroup.procs");
            if (Files.exists(procs)) {
                try {
                    Files.write(procs, line);
                } catch (IOException e) {
                    throw new IOException("move pid " + pid + " into " + dir + ": " + e.getMessage(), e);
                }
            }
        }
    }

    /** Whether a cgroup2 mount's root already holds the process (a move there costs an RCU grace period). */
    private static boolean inRootCgroup2(Path root, int pid) {
        try {
            return Files.exists(root.resolve("cgroup.controllers"))
                    && Files.readAllLines(Path.of("/proc", Integer.toString(pid), "cgroup")).contains("0::/");
        } catch (IOException e) {
            return false;
        }
    }

    /** Removes the pause leaf, then the pod cgroup and its ancestors up to createdFrom while they are empty. */
    void remove(Names n, String createdFrom) throws IOException {
        if (systemd != null) {
            // The pause scope (what is left in it goes with it), then the pod slice if Coracle started it.
            systemd.stop(leaf(n.pause()));
            cgroups.remove(n.pause());
            if (n.pod().equals(createdFrom)) {
                systemd.stop(leaf(n.pod()));
            }
            return;
        }
        synchronized (TREE_LOCK) {
            cgroups.remove(n.pause());
            if (createdFrom == null || createdFrom.equals(n.pause())) {
                return;
            }
            for (String p = n.pod(); p.startsWith(createdFrom); p = parentOf(p)) {
                for (Path dir : dirs(p)) {
                    try {
                        Files.deleteIfExists(dir);
                    } catch (DirectoryNotEmptyException e) {
                        return; // cgroup dirs hold control files; rmdir reports children this way
                    } catch (FileSystemException e) {
                        return; // busy: another pod or its containers still use it
                    }
                }
                if (p.equals(createdFrom)) {
                    return;
                }
            }
        }
    }

    boolean exists(String path) {
        return cgroups.exists(path);
    }

    List<Integer> pids(String path) throws IOException {
        return cgroups.pids(path);
    }

    private Collection<Path> dirs(String path) {
        String rel = path.replaceFirst("^/+", "");
        List<Path> out = new ArrayList<>();
        if (cgroups instanceof CgroupV1 v1) {
            for (Path h : v1.hierarchies().values()) {
                out.add(rel.isEmpty() ? h : h.resolve(rel));
            }
        } else if (cgroups instanceof CgroupV2 v2) {
            out.add(rel.isEmpty() ? v2.root() : v2.root().resolve(rel));
        }
        return out;
    }

    private static String parentOf(String p) {
        int i = p.lastIndexOf('/');
        return i <= 0 ? "/" : p.substring(0, i);
    }

    /** The pod's resources plus its overhead, as the pod cgroup's limits; null when nothing is asked. */
    static Resources podResources(LinuxContainerResources r, LinuxContainerResources o) {
        if (r == null && o == null) {
            return null;
        }
        r = r == null ? LinuxContainerResources.getDefaultInstance() : r;
        o = o == null ? LinuxContainerResources.getDefaultInstance() : o;
        long shares = r.getCpuShares() + o.getCpuShares();
        long period = r.getCpuPeriod() > 0 ? r.getCpuPeriod() : o.getCpuPeriod();
        long quota = r.getCpuQuota() > 0 ? r.getCpuQuota() + Math.max(0, o.getCpuQuota()) : 0;
        long mem = r.getMemoryLimitInBytes() > 0 ? r.getMemoryLimitInBytes() + Math.max(0, o.getMemoryLimitInBytes()) : 0;
        Resources.Cpu cpu = shares > 0 || quota > 0 || !r.getCpusetCpus().isEmpty()
                ? new Resources.Cpu(shares > 0 ? shares : null, quota > 0 ? quota : null, period > 0 ? period : null,
                        r.getCpusetCpus().isEmpty() ? null : r.getCpusetCpus(),
                        r.getCpusetMems().isEmpty() ? null : r.getCpusetMems())
                : null;
        Resources.Memory memory = mem > 0 ? new Resources.Memory(mem, null, null) : null;
        // Huge pages: the pod's limit per page size plus the overhead's for that size.
        Map<String, Long> pages = new LinkedHashMap<>();
        for (HugepageLimit h : r.getHugepageLimitsList()) {
            pages.merge(h.getPageSize(), h.getLimit(), Long::sum);
        }
        for (HugepageLimit h : o.getHugepageLimitsList()) {
            if (pages.containsKey(h.getPageSize())) {
                pages.merge(h.getPageSize(), h.getLimit(), Long::sum);
            }
        }
        List<Resources.HugepageLimit> hugepages = pages.entrySet().stream()
                .map(e -> new Resources.HugepageLimit(e.getKey(), e.getValue())).toList();
        Map<String, String> unified = r.getUnifiedMap().isEmpty() ? null : new TreeMap<>(r.getUnifiedMap());
        return cpu == null && memory == null && hugepages.isEmpty() && unified == null ? null
                : new Resources(memory, cpu, null, hugepages.isEmpty() ? null : hugepages, null, unified);
    }

    /**
     * Rewrites the limits of an existing pod cgroup (UpdatePodSandboxResources) with the shim's cgroup
     * code, and with the systemd driver the slice's unit properties too. All or nothing: when the kernel
     * refuses a file half-way (or systemd the properties), the values read before the update are written
     * back, and the refusal is thrown.
     */
    void update(String pod, Resources want) throws IOException {
        synchronized (TREE_LOCK) {
            Resources before = current(pod, want);
            try {
                creator.create(pod, want);
                if (systemd != null) {
                    // The slice is systemd's: its properties follow, else systemd writes the old limits
                    // back at its next reload.
                    systemd.update(leaf(pod), want);
                }
            } catch (IOException e) {
                try {
                    creator.create(pod, before);
                } catch (IOException restore) {
                    e.addSuppressed(restore);
                }
                throw e;
            }
        }
    }

    /** The memory the pod's cgroup charges now (bytes). */
    long memoryUsage(String pod) throws IOException {
        return cgroups.stats(pod).memoryUsageBytes();
    }

    /**
     * The pod cgroup's current values of every file {@code want} would write, as resources that write
     * them back. On v2 the files are restored verbatim (unified), so no conversion (shares to weight)
     * rounds them; on v1 every value the writer takes is the file's own number.
     */
    Resources current(String pod, Resources want) throws IOException {
        List<String> sizes = want.hugepageLimits() == null ? List.of()
                : want.hugepageLimits().stream().map(Resources.HugepageLimit::pageSize).toList();
        Resources.Cpu cpu = want.cpu();
        if (cgroups.v2()) {
            List<String> files = new ArrayList<>();
            if (cpu != null) {
                files.addAll(List.of("cpu.weight", "cpu.max"));
                if (cpu.cpus() != null) {
                    files.add("cpuset.cpus");
                }
                if (cpu.mems() != null) {
                    files.add("cpuset.mems");
                }
            }
            if (want.memory() != null) {
                files.add("memory.max");
            }
            sizes.forEach(size -> files.add("hugetlb." + size + ".max"));
            if (want.unified() != null) {
                files.addAll(want.unified().keySet());
            }
            Map<String, String> values = new LinkedHashMap<>();
            for (String f : files) {
                String v = cgroups.read(pod, f);
                if (v != null && !v.isEmpty()) {
                    values.put(f, v);
                }
            }
            return new Resources(null, null, null, null, null, values);
        }
        Resources.Cpu oldCpu = cpu == null ? null : new Resources.Cpu(number(pod, "cpu.shares"),
                number(pod, "cpu.cfs_quota_us"), number(pod, "cpu.cfs_period_us"),
                cpu.cpus() == null ? null : emptyAsNull(cgroups.read(pod, "cpuset.cpus")),
                cpu.mems() == null ? null : emptyAsNull(cgroups.read(pod, "cpuset.mems")));
        Resources.Memory oldMemory = want.memory() == null ? null
                : new Resources.Memory(number(pod, "memory.limit_in_bytes"), null, null);
        List<Resources.HugepageLimit> oldPages = new ArrayList<>();
        for (String size : sizes) {
            // The hybrid unified hierarchy names it hugetlb.<size>.max; v1 hugetlb.<size>.limit_in_bytes.
            Long v = number(pod, "hugetlb." + size + ".limit_in_bytes");
            v = v != null ? v : number(pod, "hugetlb." + size + ".max");
            if (v != null) {
                oldPages.add(new Resources.HugepageLimit(size, v));
            }
        }
        return new Resources(oldMemory, oldCpu, null, oldPages.isEmpty() ? null : oldPages, null);
    }

    private Long number(String pod, String file) throws IOException {
        String v = cgroups.read(pod, file);
        if (v == null || v.isEmpty()) {
            return null;
        }
        return v.equals("max") ? Long.MAX_VALUE : Long.parseLong(v);
    }

    private static String emptyAsNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }
}
