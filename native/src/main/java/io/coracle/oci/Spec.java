package io.coracle.oci;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Map;
import java.util.List;

/** An OCI runtime-spec config.json (only the fields Coracle uses; names are the spec's keys). */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Spec(String ociVersion, Process process, Root root, String hostname, List<Mount> mounts,
                   Map<String, String> annotations, Linux linux, Map<String, List<Hook>> hooks) {
    public static final String VERSION = "1.0.2";

    /** Without hooks. */
    public Spec(String ociVersion, Process process, Root root, String hostname, List<Mount> mounts,
                Map<String, String> annotations, Linux linux) {
        this(ociVersion, process, root, hostname, mounts, annotations, linux, null);
    }
    /** Annotations naming the overlay the shim mounts as the rootfs inside the container's mount namespace. */
    public static final String OVERLAY_LOWERDIRS = "io.coracle.overlay.lowerdirs";
    public static final String OVERLAY_UPPERDIR = "io.coracle.overlay.upperdir";
    public static final String OVERLAY_WORKDIR = "io.coracle.overlay.workdir";
}
