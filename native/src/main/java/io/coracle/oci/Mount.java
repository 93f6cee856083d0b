package io.coracle.oci;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/** One entry of the spec's {@code mounts}. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Mount(String destination, String type, String source, List<String> options) {}
