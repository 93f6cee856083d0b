package io.coracle.image.content;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import io.coracle.image.Digest;
import java.util.List;
import java.util.Map;

/** An OCI content descriptor: media type, digest, size, and for index entries the platform. */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Descriptor(String mediaType, String digest, long size, Map<String, String> annotations,
                         PlatformSpec platform, List<String> urls) {

    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record PlatformSpec(String os, String architecture, String variant) {
    }

    public Descriptor(String mediaType, Digest digest, long size) {
        this(mediaType, digest.toString(), size, null, null, null);
    }

    public Digest parsedDigest() {
        return Digest.parse(digest);
    }
}
