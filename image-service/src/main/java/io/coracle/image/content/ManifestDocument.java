package io.coracle.image.content;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.image.ImageException;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * An image manifest or an image index (OCI or Docker schema 2): {@code layers}+{@code config} for a
 * manifest, {@code manifests} for an index.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ManifestDocument(int schemaVersion, String mediaType, Descriptor config, List<Descriptor> layers,
                               List<Descriptor> manifests, Map<String, String> annotations) {

    public static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /** Parses a manifest body; {@code contentType} (from HTTP or a descriptor) wins over the body's mediaType. */
    public static ManifestDocument parse(byte[] body, String contentType, String what) {
        ManifestDocument doc;
        try {
            doc = JSON.readValue(body, ManifestDocument.class);
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "malformed manifest JSON for " + what + ": " + e.getMessage(), e);
        }
        String type = contentType;
        if (type == null || type.isBlank() || !(MediaTypes.INDEXES.contains(type) || MediaTypes.MANIFESTS.contains(type))) {
            type = doc.mediaType();
        }
        if (type == null) {
            type = doc.manifests() != null ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
        }
        if (doc.schemaVersion() != 2) {
            throw new ImageException(ImageException.Reason.UNSUPPORTED, "unsupported manifest schemaVersion " + doc.schemaVersion() + " for " + what);
        }
        return new ManifestDocument(doc.schemaVersion(), type, doc.config(), doc.layers(), doc.manifests(), doc.annotations());
    }

    public boolean isIndex() {
        return MediaTypes.INDEXES.contains(mediaType);
    }

    public boolean isManifest() {
        return MediaTypes.MANIFESTS.contains(mediaType);
    }
}
