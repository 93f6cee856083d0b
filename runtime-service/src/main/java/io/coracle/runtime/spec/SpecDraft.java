package io.coracle.runtime.spec;

import io.coracle.oci.Linux;
import io.coracle.oci.Mount;
import io.coracle.oci.Process;
import io.coracle.oci.Resources;
import io.coracle.oci.Root;
import io.coracle.oci.Seccomp;
import io.coracle.oci.Spec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A container's OCI spec while the {@link SpecStep}s fill it in; {@link #toSpec()} freezes it. */
public final class SpecDraft {
    public List<String> args = new ArrayList<>();
    public List<String> env = new ArrayList<>();
    public String cwd = "/";
    public boolean terminal;
    public Process.User user = new Process.User(0, 0, null, List.of());
    public List<String> capabilities = new ArrayList<>();
    public List<String> ambientCapabilities = new ArrayList<>();
    public boolean noNewPrivileges;
    public Integer oomScoreAdj;
    public List<Process.Rlimit> rlimits = new ArrayList<>();

    public String rootPath = "rootfs";
    public boolean readonlyRootfs;
    public String hostname;
    public List<Mount> mounts = new ArrayList<>();
    public Map<String, String> annotations = new LinkedHashMap<>();

    public List<Linux.Namespace> namespaces = new ArrayList<>();
    public String cgroupsPath;
    public Resources.Memory memory;
    public Resources.Cpu cpu;
    public List<Resources.HugepageLimit> hugepageLimits = new ArrayList<>();
    public List<Resources.DeviceRule> deviceRules = new ArrayList<>();
    public Map<String, String> unified = new LinkedHashMap<>();
    public Map<String, String> sysctl = new LinkedHashMap<>();
    public Seccomp seccomp;
    public List<String> maskedPaths = new ArrayList<>();
    public List<String> readonlyPaths = new ArrayList<>();
    public List<Linux.Device> devices = new ArrayList<>();
    public String rootfsPropagation;
    /** With the pod's user namespace joined: its maps (linux.uidMappings/gidMappings); else null. */
    public List<Linux.IdMapping> uidMappings;
    public List<Linux.IdMapping> gidMappings;
    /** LSM labels: AppArmor profile and SELinux process label at execve, SELinux context of the mounts (null: none). */
    public String apparmorProfile;
    public String selinuxLabel;
    public String mountLabel;
    /** OCI hooks by hook name (only from CDI specs, host configuration: never from a pod spec). */
    public Map<String, List<io.coracle.oci.Hook>> hooks = new LinkedHashMap<>();

    /** Whether a mount already targets {@code destination}. */
    public boolean mounts(String destination) {
        return mounts.stream().anyMatch(m -> m.destination().equals(destination));
    }

    public Spec toSpec() {
        Process.Capabilities caps = new Process.Capabilities(List.copyOf(capabilities), List.copyOf(capabilities),
                List.of(), List.copyOf(capabilities), List.copyOf(ambientCapabilities));
        Process process = new Process(terminal, null, user, List.copyOf(args), List.copyOf(env), cwd, caps,
                rlimits.isEmpty() ? null : List.copyOf(rlimits), noNewPrivileges, oomScoreAdj, apparmorProfile,
                selinuxLabel);
        Resources resources = new Resources(memory, cpu, null,
                hugepageLimits.isEmpty() ? null : List.copyOf(hugepageLimits),
                deviceRules.isEmpty() ? null : List.copyOf(deviceRules),
                unified.isEmpty() ? null : Map.copyOf(unified));
        Linux linux = new Linux(List.copyOf(namespaces), cgroupsPath, resources,
                sysctl.isEmpty() ? null : Map.copyOf(sysctl), seccomp,
                List.copyOf(maskedPaths), List.copyOf(readonlyPaths), List.copyOf(devices), rootfsPropagation, mountLabel,
                uidMappings, gidMappings);
        return new Spec(Spec.VERSION, process, new Root(rootPath, readonlyRootfs), hostname, List.copyOf(mounts),
                Map.copyOf(annotations), linux, hooks.isEmpty() ? null : Map.copyOf(hooks));
    }
}
