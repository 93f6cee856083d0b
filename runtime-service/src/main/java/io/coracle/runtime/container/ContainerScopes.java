package io.coracle.runtime.container;

import io.coracle.cgroup.systemd.SystemdUnits;
import io.coracle.oci.Resources;
import java.io.IOException;
import java.util.List;
import java.util.Set;
import java.util.logging.Logger;

/**
 * Containers as systemd scopes, with the systemd cgroup driver: {@code coracle-<id>.scope} in the
 * pod's slice, started once the shim has made the container's process (held before its exec until
 * StartContainer), as runc starts its scope with the pid of its init; stopped at removal. With
 * cgroupfs ({@link #NONE}) a container's cgroup is a plain directory named by its id.
 */
public record ContainerScopes(SystemdUnits systemd) {
    private static final Logger LOG = Logger.getLogger(ContainerScopes.class.getName());
    public static final ContainerScopes NONE = new ContainerScopes(null);
    /** The units Coracle starts: every pod's pause scope, each container's scope, and the default parent's pod slices. */
    static final List<String> PATTERNS = List.of("coracle-*.scope", "coracle-pod*.slice");

    /** The last component of a container's cgroup path under its pod's. */
    public String leaf(String id) {
        return systemd == null ? id : "coracle-" + id + ".scope";
    }

    /** Puts the container's process into its scope, with the container's limits as the scope's properties. */
    void start(String cgroupPath, String id, long pid, Resources limits) throws IOException {
        String scope = scopeOf(cgroupPath);
        if (scope == null) {
            return;
        }
        systemd.startScope(scope, sliceOf(cgroupPath), pid, "Coracle container " + id, limits);
    }

    /** New limits as the scope's properties (the shim then writes the cgroup files, systemd's and the rest). */
    void update(String cgroupPath, Resources limits) throws IOException {
        String scope = scopeOf(cgroupPath);
        if (scope != null) {
            systemd.update(scope, limits);
        }
    }

    /** Stops the container's scope (systemd kills what is left in it) and forgets it. */
    void stop(String cgroupPath) throws IOException {
        String scope = scopeOf(cgroupPath);
        if (scope != null) {
            systemd.stop(scope);
        }
    }

    /**
     * Stops Coracle's units that no pod or container of the state owns any more (left by a crash):
     * {@code coracle-<id>.scope} and {@code coracle-pod<id>.slice} whose id is not in {@code live}.
     */
    public void removeOrphans(Set<String> live) throws IOException {
        if (systemd == null) {
            return;
        }
        for (String unit : systemd.list(PATTERNS)) {
            String id = unit.endsWith(".scope") ? unit.substring("coracle-".length(), unit.length() - ".scope".length())
                    : unit.substring("coracle-pod".length(), unit.length() - ".slice".length());
            if (!live.contains(id)) {
                LOG.info("systemd unit " + unit + " belongs to no pod or container: stopping it");
                try {
                    systemd.stop(unit);
                } catch (IOException e) {
                    LOG.warning("systemd unit " + unit + " left running (stopped at the next start): " + e.getMessage());
                }
            }
        }
    }

    private String scopeOf(String cgroupPath) {
        if (systemd == null || cgroupPath == null) {
            return null;
        }
        String leaf = cgroupPath.substring(cgroupPath.lastIndexOf('/') + 1);
        return leaf.endsWith(".scope") ? leaf : null;
    }

    /** The slice a scope's cgroup path sits in: its parent's last component ("-.slice" at the root). */
    static String sliceOf(String cgroupPath) {
        String parent = cgroupPath.substring(0, Math.max(cgroupPath.lastIndexOf('/'), 0));
        String leaf = parent.substring(parent.lastIndexOf('/') + 1);
        return leaf.endsWith(".slice") ? leaf : "-.slice";
    }
}
