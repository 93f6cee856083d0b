package io.coracle.sandbox;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Settings of the pod sandbox module, built by the daemon from coracle.toml: by name, from
 * {@link #defaults} and the {@code with...} steps.
 *
 * @param stateDir          volatile per-pod files, netns bind mounts, /dev/shm (under /run)
 * @param rootDir           persistent sandbox records (under /var/lib)
 * @param cniBinDirs        where CNI plugins are searched, in order
 * @param cniConfDir        CNI network configurations (.conflist, .conf, .json)
 * @param cniNetworkName    network to use by name; empty picks the first file in lexical order
 * @param defaultBridge     bridge of the default conflist written when cniConfDir is empty
 * @param defaultSubnet     subnet of that default conflist
 * @param cgroupDriver      cgroupfs or systemd naming of cgroup parents
 * @param defaultCgroupParent parent of pod cgroups when the kubelet gives none
 * @param pauseBinary       coracle-pause executable
 * @param shmSizeBytes      size of each pod's /dev/shm tmpfs
 * @param defaultNetwork    whether the default conflist is written into an empty cniConfDir (else the
 *                          node waits, NetworkReady=false, for the cluster's network plugin to install one)
 */
public record SandboxConfig(Path stateDir, Path rootDir, List<Path> cniBinDirs, Path cniConfDir, String cniNetworkName,
                            String defaultBridge, String defaultSubnet, CgroupDriver cgroupDriver,
                            String defaultCgroupParent, Path pauseBinary, long shmSizeBytes,
                            boolean defaultNetwork) {

    public static final List<Path> DEFAULT_CNI_BIN_DIRS = List.of(Path.of("/opt/cni/bin"), Path.of("/usr/lib/cni"));

    public SandboxConfig {
        Objects.requireNonNull(stateDir, "stateDir");
        Objects.requireNonNull(rootDir, "rootDir");
        cniBinDirs = List.copyOf(cniBinDirs == null || cniBinDirs.isEmpty() ? DEFAULT_CNI_BIN_DIRS : cniBinDirs);
        cniConfDir = cniConfDir == null ? Path.of("/etc/cni/net.d") : cniConfDir;
        cniNetworkName = cniNetworkName == null ? "" : cniNetworkName;
        defaultBridge = defaultBridge == null || defaultBridge.isEmpty() ? "coracle0" : defaultBridge;
        defaultSubnet = defaultSubnet == null || defaultSubnet.isEmpty() ? "10.88.0.0/16" : defaultSubnet;
        cgroupDriver = cgroupDriver == null ? CgroupDriver.CGROUPFS : cgroupDriver;
        if (defaultCgroupParent == null || defaultCgroupParent.isEmpty()) {
            defaultCgroupParent = cgroupDriver == CgroupDriver.SYSTEMD ? "coracle.slice" : "/coracle";
        }
        Objects.requireNonNull(pauseBinary, "pauseBinary");
        shmSizeBytes = shmSizeBytes <= 0 ? 64L << 20 : shmSizeBytes;
        if (defaultBridge.length() > 15) {
            throw new IllegalArgumentException("bridge name longer than 15 characters: " + defaultBridge);
        }
    }

    /** The defaults under the given state and root dirs (daemon: /run/coracle/sandboxes, /var/lib/coracle/sandboxes). */
    public static SandboxConfig defaults(Path stateDir, Path rootDir, Path pauseBinary) {
        return new SandboxConfig(stateDir, rootDir, null, null, null, null, null, null, null, pauseBinary, 0, true);
    }

    /** Plugin dirs searched in order; null or empty for {@link #DEFAULT_CNI_BIN_DIRS}. */
    public SandboxConfig withCniBinDirs(List<Path> dirs) {
        return new SandboxConfig(stateDir, rootDir, dirs, cniConfDir, cniNetworkName, defaultBridge, defaultSubnet,
                cgroupDriver, defaultCgroupParent, pauseBinary, shmSizeBytes, defaultNetwork);
    }

    /** The network to use by name; empty picks the first file of the conf dir. */
    public SandboxConfig withCniNetworkName(String name) {
        return new SandboxConfig(stateDir, rootDir, cniBinDirs, cniConfDir, name, defaultBridge, defaultSubnet,
                cgroupDriver, defaultCgroupParent, pauseBinary, shmSizeBytes, defaultNetwork);
    }

    /** Size of each pod's /dev/shm; 0 for the default 64 MiB. */
    public SandboxConfig withShmSizeBytes(long bytes) {
        return new SandboxConfig(stateDir, rootDir, cniBinDirs, cniConfDir, cniNetworkName, defaultBridge,
                defaultSubnet, cgroupDriver, defaultCgroupParent, pauseBinary, bytes, defaultNetwork);
    }

    /** Whether an empty CNI conf dir gets the default bridge network (the daemon's [cni] default_network). */
    public SandboxConfig withDefaultNetwork(boolean enabled) {
        return new SandboxConfig(stateDir, rootDir, cniBinDirs, cniConfDir, cniNetworkName, defaultBridge, defaultSubnet,
                cgroupDriver, defaultCgroupParent, pauseBinary, shmSizeBytes, enabled);
    }

    /** CNI conf dir, and the bridge and subnet of the default conflist (null for the defaults). */
    public SandboxConfig withCni(Path confDir, String bridge, String subnet) {
        return new SandboxConfig(stateDir, rootDir, cniBinDirs, confDir, cniNetworkName, bridge, subnet, cgroupDriver,
                defaultCgroupParent, pauseBinary, shmSizeBytes, defaultNetwork);
    }

    /** The cgroup driver and the pods' default parent (null or empty for the driver's default). */
    public SandboxConfig withCgroups(CgroupDriver driver, String parent) {
        return new SandboxConfig(stateDir, rootDir, cniBinDirs, cniConfDir, cniNetworkName, defaultBridge, defaultSubnet,
                driver, parent, pauseBinary, shmSizeBytes, defaultNetwork);
    }

    /** How cgroup parents are named: plain paths, or systemd slices expanded to their cgroupfs paths. */
    public enum CgroupDriver {
        CGROUPFS, SYSTEMD;

        public static CgroupDriver parse(String s) {
            return switch (s == null ? "" : s.trim().toLowerCase()) {
                case "", "cgroupfs" -> CGROUPFS;
                case "systemd" -> SYSTEMD;
                default -> throw new IllegalArgumentException("cgroup driver must be cgroupfs or systemd, not " + s);
            };
        }
    }
}
