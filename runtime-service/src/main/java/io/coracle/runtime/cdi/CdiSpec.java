package io.coracle.runtime.cdi;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * One CDI spec file (the Container Device Interface's JSON or YAML): a kind "vendor/class", its
 * devices, and edits made to every container that gets one of them. Keys are the CDI spec's;
 * fields Coracle does not apply (annotations, intelRdt, netDevices) are ignored.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record CdiSpec(String cdiVersion, String kind, List<Device> devices, ContainerEdits containerEdits) {

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Device(String name, ContainerEdits containerEdits) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ContainerEdits(List<String> env, List<DeviceNode> deviceNodes, List<Mount> mounts, List<Hook> hooks,
                                 @JsonProperty("additionalGIDs") List<Long> additionalGids) {}

    /** A device node to create in the container: path there, hostPath (default: path) to describe it from. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record DeviceNode(String path, String hostPath, String type, Long major, Long minor, Integer fileMode,
                             String permissions, Long uid, Long gid) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Mount(String hostPath, String containerPath, List<String> options, String type) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Hook(String hookName, String path, List<String> args, List<String> env, Integer timeout) {}
}
