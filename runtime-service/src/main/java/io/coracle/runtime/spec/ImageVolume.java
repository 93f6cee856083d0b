package io.coracle.runtime.spec;

import java.nio.file.Path;
import java.util.List;

/**
 * An image volume (KEP-4639) resolved by the creator: the layer directories that show the image, or
 * its image_sub_path, top first, overlaid read-only at {@code containerPath}.
 *
 * @param containerPath where it is mounted in the container (the CRI mount's container_path)
 * @param imageId       the image mounted
 * @param layers        real directories of the image's layers (or of the sub path in them), top first;
 *                      never empty
 */
public record ImageVolume(String containerPath, String imageId, List<Path> layers) {
    public ImageVolume {
        layers = List.copyOf(layers);
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("an image volume needs at least one layer");
        }
    }
}
