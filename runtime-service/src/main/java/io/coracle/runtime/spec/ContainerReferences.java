package io.coracle.runtime.spec;

import java.nio.file.Path;
import java.util.List;

/**
 * What a container's config names outside itself, resolved by the creator before the spec is built.
 *
 * @param imageVolumes  the CRI mounts of images, in the config's order
 * @param emptyLayer    an empty directory, the bottom layer of a one-layer image volume (an overlay
 *                      without an upper layer needs two); null when there are no image volumes
 * @param targetPidns   the PID namespace of the container namespace_options.target_id names (pid
 *                      TARGET); null otherwise
 * @param targetPidnsId that namespace as its link reads when resolved ("pid:[inode]"), to check the
 *                      process joined it; null without a TARGET
 */
public record ContainerReferences(List<ImageVolume> imageVolumes, Path emptyLayer, Path targetPidns,
                                  String targetPidnsId) {
    public static final ContainerReferences NONE = new ContainerReferences(List.of(), null, null, null);

    public ContainerReferences {
        imageVolumes = List.copyOf(imageVolumes);
    }
}
