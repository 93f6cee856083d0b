package io.coracle.runtime.cdi;

import io.coracle.oci.Process;
import io.coracle.runtime.spec.ContainerSpecInput;
import io.coracle.runtime.spec.SpecDraft;
import io.coracle.runtime.spec.SpecStep;
import java.util.ArrayList;
import java.util.List;

/**
 * The container's CDI devices: their env entries (replacing the same key), device nodes (replacing
 * a node at the same path) with a cgroup rule each, mounts (replacing one at the same destination),
 * OCI hooks and supplementary groups, applied after every other step as containerd applies CDI edits.
 */
public record CdiStep(CdiEdits edits) implements SpecStep {
    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) {
        for (String e : edits.env()) {
            String key = e.substring(0, e.indexOf('=') + 1);
            spec.env.removeIf(x -> x.startsWith(key));
            spec.env.add(e);
        }
        for (var d : edits.devices()) {
            spec.devices.removeIf(x -> x.path().equals(d.path()));
            spec.devices.add(d);
        }
        spec.deviceRules.addAll(edits.deviceRules());
        for (var m : edits.mounts()) {
            spec.mounts.removeIf(x -> x.destination().equals(m.destination()));
            spec.mounts.add(m);
        }
        edits.hooks().forEach((name, hooks) -> spec.hooks.computeIfAbsent(name, k -> new ArrayList<>()).addAll(hooks));
        if (!edits.additionalGids().isEmpty()) {
            Process.User u = spec.user;
            List<Long> gids = new ArrayList<>(u.additionalGids() == null ? List.of() : u.additionalGids());
            edits.additionalGids().stream().filter(g -> !gids.contains(g)).forEach(gids::add);
            spec.user = new Process.User(u.uid(), u.gid(), u.umask(), gids);
        }
    }
}
