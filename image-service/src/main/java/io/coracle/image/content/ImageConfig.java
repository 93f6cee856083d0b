package io.coracle.image.content;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.coracle.image.ImageException;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * The parts of an OCI image config the runtime uses: the process defaults ({@link Settings}) and
 * the layer diff IDs.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ImageConfig(String architecture, String os, String variant, Settings config, RootFs rootfs) {

    /** Process defaults from the image: what a container inherits unless its CRI config overrides it. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Settings(@JsonProperty("User") String user,
                           @JsonProperty("Env") List<String> env,
                           @JsonProperty("Entrypoint") List<String> entrypoint,
                           @JsonProperty("Cmd") List<String> cmd,
                           @JsonProperty("WorkingDir") String workingDir,
                           @JsonProperty("StopSignal") String stopSignal,
                           @JsonProperty("ExposedPorts") Map<String, Object> exposedPorts,
                           @JsonProperty("Volumes") Map<String, Object> volumes,
                           @JsonProperty("Labels") Map<String, String> labels) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record RootFs(String type, @JsonProperty("diff_ids") List<String> diffIds) {
    }

    public static ImageConfig parse(byte[] json, String what) {
        try {
            ImageConfig c = ManifestDocument.JSON.readValue(json, ImageConfig.class);
            if (c.rootfs() == null || c.rootfs().diffIds() == null) {
                throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "image config of " + what + " has no rootfs.diff_ids");
            }
            return c;
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "malformed image config for " + what + ": " + e.getMessage(), e);
        }
    }

    /** Process defaults, never null. */
    public Settings settings() {
        return config != null ? config : new Settings(null, null, null, null, null, null, null, null, null);
    }
}
