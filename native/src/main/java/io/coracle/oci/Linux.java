package io.coracle.oci;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Map;

/** The spec's {@code linux} object. {@code mountLabel}: the SELinux context of the container's own mounts (null: none). */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Linux(List<Namespace> namespaces, String cgroupsPath, Resources resources, Map<String, String> sysctl,
                    Seccomp seccomp, List<String> maskedPaths, List<String> readonlyPaths, List<Device> devices,
                    String rootfsPropagation, String mountLabel, List<IdMapping> uidMappings,
                    List<IdMapping> gidMappings) {
    public Linux(List<Namespace> namespaces, String cgroupsPath, Resources resources, Map<String, String> sysctl,
                 Seccomp seccomp, List<String> maskedPaths, List<String> readonlyPaths, List<Device> devices,
                 String rootfsPropagation, String mountLabel) {
        this(namespaces, cgroupsPath, resources, sysctl, seccomp, maskedPaths, readonlyPaths, devices, rootfsPropagation,
                mountLabel, null, null);
    }

    public Linux(List<Namespace> namespaces, String cgroupsPath, Resources resources, Map<String, String> sysctl,
                 Seccomp seccomp, List<String> maskedPaths, List<String> readonlyPaths, List<Device> devices,
                 String rootfsPropagation) {
        this(namespaces, cgroupsPath, resources, sysctl, seccomp, maskedPaths, readonlyPaths, devices, rootfsPropagation,
                null);
    }

    /** type: pid, network, mount, ipc, uts, cgroup, user; path: join that namespace instead of creating one. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Namespace(String type, String path) {}

    /** linux.uidMappings / gidMappings: container ids containerID.. are host ids hostID.., size of them. */
    public record IdMapping(long containerID, long hostID, long size) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Device(String path, String type, Long major, Long minor, Integer fileMode, Long uid, Long gid) {}
}
