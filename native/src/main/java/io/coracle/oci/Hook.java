package io.coracle.oci;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * One OCI hook (config.json {@code hooks.<name>[]}): an absolute path, its argv (args[0] included),
 * its environment, and a timeout in seconds (null: the runner's bound).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Hook(String path, List<String> args, List<String> env, Integer timeout) {
    /** The hook names of the OCI runtime spec, in the order of a container's life. */
    public static final List<String> NAMES = List.of("prestart", "createRuntime", "createContainer", "startContainer",
            "poststart", "poststop");
}
