package io.coracle.runtime.container;

import java.nio.file.Path;

/**
 * What a CreateContainer is about to make, in {@code <root>/containers/<id>/intent.json} before it
 * makes any of it, deleted once the container's record is stored: a daemon killed in between leaves
 * the start-up everything to undo (the shim and its processes, the cgroup, the state dir, the image lease).
 */
record ContainerIntent(String id, String podId, Path stateDir, String cgroupPath) {
    static final String FILE = "intent.json";
}
