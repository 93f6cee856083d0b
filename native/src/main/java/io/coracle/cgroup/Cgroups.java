package io.coracle.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The node's cgroup file systems: read and remove a cgroup by its path (as in linux.cgroupsPath,
 * relative to each hierarchy's root). {@link #detect()} picks v1 or v2. Limits are written only by
 * the shim's cgroup code: a container's through its shim ({@code ShimClient.update}), a pod's with
 * {@link CgroupCreator}.
 */
public interface Cgroups {
    Path ROOT = Path.of("/sys/fs/cgroup");

    static Cgroups detect() throws IOException {
        // On pure v2, /sys/fs/cgroup is itself the cgroup2 mount and lists cgroup.controllers.
        if (Files.exists(ROOT.resolve("cgroup.controllers"))) {
            return new CgroupV2(ROOT);
        }
        return CgroupV1.mounted(ROOT);
    }

    boolean v2();

    CgroupStats stats(String path) throws IOException;

    /** The PIDs in the cgroup (in every hierarchy, without duplicates). */
    List<Integer> pids(String path) throws IOException;

    /** Removes the cgroup (it must hold no process); absent is fine. Parents stay. */
    void remove(String path) throws IOException;

    boolean exists(String path);

    /**
     * A control file of the cgroup (e.g. "cpu.shares", "memory.max"), trimmed, from the hierarchy
     * that has it; null when none does. Bounded: control files are short.
     */
    String read(String path, String file) throws IOException;
}
