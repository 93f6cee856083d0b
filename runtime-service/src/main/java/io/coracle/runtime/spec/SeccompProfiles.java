package io.coracle.runtime.spec;

import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.SecurityProfile;
import io.coracle.oci.OciJson;
import io.coracle.oci.Seccomp;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Seccomp profiles: RuntimeDefault (Coracle's own, below), Unconfined, or Localhost (a profile file
 * in the OCI/Docker JSON format). No profile in the request means Unconfined, as the kubelet intends.
 */
public final class SeccompProfiles {
    /**
     * RuntimeDefault: everything is allowed except what reaches outside the container or into the
     * kernel's own state (modules, clocks, keyrings, mounts, namespaces, tracing, BPF, reboot...).
     * Those fail with EPERM. Privileged containers run unconfined.
     */
    static final List<String> DENIED_BY_DEFAULT = List.of(
            "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
            "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy",
            "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
            "mbind", "mount", "mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
            "open_by_handle_at", "open_tree", "perf_event_open", "pivot_root", "process_vm_readv",
            "process_vm_writev", "ptrace", "query_module", "quotactl", "quotactl_fd", "reboot", "request_key",
            "set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon", "sysfs", "_sysctl", "umount",
            "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old");

    static final Set<String> ACTIONS = Set.of("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY");

    private SeccompProfiles() {
    }

    public static Seccomp runtimeDefault() {
        return new Seccomp("SCMP_ACT_ALLOW", null, List.of("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
                List.of(new Seccomp.Syscall(DENIED_BY_DEFAULT, "SCMP_ACT_ERRNO", 1, null)));
    }

    /** The profile the container asks for; empty for unconfined. */
    public static Optional<Seccomp> forContainer(LinuxContainerSecurityContext sc) throws InvalidContainerConfigException {
        if (sc.getPrivileged()) {
            return Optional.empty();
        }
        if (sc.hasSeccomp()) {
            SecurityProfile p = sc.getSeccomp();
            return switch (p.getProfileType()) {
                case RuntimeDefault -> Optional.of(runtimeDefault());
                case Unconfined -> Optional.empty();
                case Localhost -> Optional.of(load(p.getLocalhostRef()));
                default -> throw new InvalidContainerConfigException("seccomp: unknown profile type "
                        + p.getProfileTypeValue());
            };
        }
        String legacy = sc.getSeccompProfilePath();
        if (legacy.isEmpty() || legacy.equals("unconfined")) {
            return Optional.empty();
        }
        if (legacy.equals("runtime/default") || legacy.equals("docker/default")) {
            return Optional.of(runtimeDefault());
        }
        if (legacy.startsWith("localhost/")) {
            return Optional.of(load(legacy.substring("localhost/".length())));
        }
        throw new InvalidContainerConfigException("seccomp_profile_path '" + legacy
                + "' is not unconfined, runtime/default or localhost/<path>");
    }

    static Seccomp load(String ref) throws InvalidContainerConfigException {
        if (ref.isEmpty() || !ref.startsWith("/")) {
            throw new InvalidContainerConfigException("seccomp: localhost profile '" + ref
                    + "' must be an absolute path");
        }
        Seccomp profile;
        try {
            profile = OciJson.read(Path.of(ref), Seccomp.class);
        } catch (NoSuchFileException e) {
            throw new InvalidContainerConfigException("seccomp: localhost profile " + ref + " does not exist");
        } catch (IOException e) {
            throw new InvalidContainerConfigException("seccomp: localhost profile " + ref + " is not a valid profile: "
                    + e.getMessage());
        }
        if (profile == null || profile.defaultAction() == null || !ACTIONS.contains(profile.defaultAction())) {
            throw new InvalidContainerConfigException("seccomp: localhost profile " + ref
                    + " has no valid defaultAction");
        }
        if (profile.syscalls() != null) {
            for (Seccomp.Syscall s : profile.syscalls()) {
                if (s.action() == null || !ACTIONS.contains(s.action()) || s.names() == null || s.names().isEmpty()) {
                    throw new InvalidContainerConfigException("seccomp: localhost profile " + ref
                            + " has a syscalls entry without names or with an unknown action");
                }
            }
        }
        return profile;
    }
}
