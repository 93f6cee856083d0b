package io.coracle.runtime.cdi;

import io.coracle.oci.Hook;
import io.coracle.oci.Linux;
import io.coracle.oci.Mount;
import io.coracle.oci.Resources;
import java.util.List;
import java.util.Map;

/**
 * What the CDI devices asked for a container add to its spec, checked and resolved: environment
 * entries (KEY=VALUE), device nodes with their cgroup rule, mounts, OCI hooks by hook name, and
 * supplementary groups.
 */
public record CdiEdits(List<String> env, List<Linux.Device> devices, List<Resources.DeviceRule> deviceRules,
                       List<Mount> mounts, Map<String, List<Hook>> hooks, List<Long> additionalGids) {
    public CdiEdits {
        env = List.copyOf(env);
        devices = List.copyOf(devices);
        deviceRules = List.copyOf(deviceRules);
        mounts = List.copyOf(mounts);
        hooks = Map.copyOf(hooks);
        additionalGids = List.copyOf(additionalGids);
    }
}
