package io.coracle.image.store;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;

/**
 * One image as the store keeps it.
 *
 * @param id             config digest ({@code sha256:...}); the CRI image ID
 * @param repoTags       e.g. {@code docker.io/library/busybox:latest}
 * @param repoDigests    e.g. {@code docker.io/library/busybox@sha256:...} (digest of what the registry served: index or manifest)
 * @param size           bytes of config + compressed layers
 * @param manifestDigest the platform manifest
 * @param chainIds       snapshot chain IDs, bottom layer first
 * @param blobs          every content-store blob the image needs (index, manifest, config, layers)
 * @param user           the config's User, raw ("1000:1000", "nobody", "" ...)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ImageRecord(String id, List<String> repoTags, List<String> repoDigests, long size,
                          String manifestDigest, List<String> chainIds, List<String> blobs, String user) {

    public ImageRecord {
        repoTags = List.copyOf(repoTags);
        repoDigests = List.copyOf(repoDigests);
        chainIds = List.copyOf(chainIds);
        blobs = List.copyOf(blobs);
    }

    public ImageRecord withNames(List<String> tags, List<String> digests) {
        return new ImageRecord(id, tags, digests, size, manifestDigest, chainIds, blobs, user);
    }
}
