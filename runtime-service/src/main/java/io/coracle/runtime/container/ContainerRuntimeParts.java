package io.coracle.runtime.container;

import io.coracle.cgroup.Cgroups;
import io.coracle.image.ImageService;
import io.coracle.shim.ExecRunner;
import io.coracle.shim.ShimLauncher;
import java.nio.file.Path;

/**
 * The parts every container operation works with: the store, images, pods, the shim programs,
 * the cgroup file systems, the volatile state dir (shim state lives under {@code <state>/ctr}), the event fan-out,
 * and the runtime handlers (name → OCI runtime binary; the default handler "" is the shim itself).
 */
public record ContainerRuntimeParts(ContainerStore store, ImageService images, PodLookup pods, ShimLauncher shims,
                                    ExecRunner execs, Cgroups cgroups, Path stateDir, ContainerEvents events,
                                    java.util.Map<String, Path> runtimes) {
}
