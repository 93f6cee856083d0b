package io.coracle.runtime.spec;

import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.SecurityProfile;
import io.coracle.oci.OciJson;
import io.coracle.oci.Seccomp;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Optional;
import java.util.Set;

/**
 * Seccomp profiles: RuntimeDefault ({@link RuntimeDefaultSeccomp}), Unconfined, or Localhost (a profile file
 * in the OCI/Docker JSON format). No profile in the request means Unconfined, as the kubelet intends.
 */
public final class SeccompProfiles {
    static final Set<String> ACTIONS = Set.of("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY");

    private SeccompProfiles() {
    }

    /**
     * The profile the container asks for; empty for unconfined. {@code capabilities}: the
     * container's capability set, which selects RuntimeDefault's conditional entries.
     */
    public static Optional<Seccomp> forContainer(LinuxContainerSecurityContext sc, Collection<String> capabilities)
            throws InvalidContainerConfigException {
        if (sc.getPrivileged()) {
            return Optional.empty();
        }
        if (sc.hasSeccomp()) {
            SecurityProfile p = sc.getSeccomp();
            return switch (p.getProfileType()) {
                case RuntimeDefault -> Optional.of(RuntimeDefaultSeccomp.forContainer(capabilities));
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
            return Optional.of(RuntimeDefaultSeccomp.forContainer(capabilities));
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
