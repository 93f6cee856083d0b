package io.coracle.runtime.spec;

import io.coracle.cri.CriError;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.SELinuxOption;
import io.coracle.cri.v1.SecurityProfile;
import java.util.Optional;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * AppArmor and SELinux, as containerd reads the CRI's security context.
 *
 * <p>AppArmor ({@code apparmor}, else the deprecated {@code apparmor_profile} string): on a host
 * with AppArmor, RuntimeDefault (and no request, for a non-privileged container) runs under
 * {@link AppArmorProfiles#DEFAULT_PROFILE}, {@code localhost/NAME} under NAME, Unconfined and
 * privileged containers under none. On a host without it, RuntimeDefault and Unconfined run
 * without, and a Localhost profile fails CreateContainer with UNKNOWN "apparmor is not supported",
 * the code and words containerd answers.
 *
 * <p>SELinux ({@code selinux_options}): on a host where SELinux enforces, the process label is
 * user:role:type:level (container defaults for the parts not given: system_u, system_r,
 * container_t, s0) and the mounts' context is system_u:object_r:container_file_t:level. Elsewhere
 * a request is logged and shown in the container's verbose status ({@link #unappliedSelinux}), as
 * containerd and CRI-O leave it unapplied.
 */
public final class LsmStep implements SpecStep {
    private static final Logger LOG = Logger.getLogger(LsmStep.class.getName());
    /** An SELinux user, role or type; a level (sensitivity and categories: s0:c1,c2). */
    private static final Pattern SELINUX_NAME = Pattern.compile("[A-Za-z0-9_.-]{1,255}");
    private static final Pattern SELINUX_LEVEL = Pattern.compile("[A-Za-z0-9_.,:-]{1,1024}");

    /** An AppArmor request: its type and, for Localhost, the profile's name. */
    record AppArmorRequest(SecurityProfile.ProfileType type, String name) {}

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        LinuxContainerSecurityContext sc = in.config().getLinux().getSecurityContext();
        Optional<AppArmorRequest> request = appArmorRequest(sc);
        AppArmorProfiles apparmor = in.host().apparmor();
        if (apparmor == null) {
            if (request.isPresent() && request.get().type() == SecurityProfile.ProfileType.Localhost) {
                throw new CriError(CriError.Kind.UNKNOWN, "apparmor is not supported: AppArmor is not enabled on this "
                        + "host, so the profile localhost/" + request.get().name() + " cannot be applied");
            }
        } else if (request.isEmpty()) {
            spec.apparmorProfile = sc.getPrivileged() ? null : apparmor.runtimeDefault();
        } else {
            spec.apparmorProfile = switch (request.get().type()) {
                case RuntimeDefault -> sc.getPrivileged() ? null : apparmor.runtimeDefault();
                case Localhost -> request.get().name();
                default -> null; // Unconfined
            };
        }
        if (requested(sc.getSelinuxOptions()) && !sc.getPrivileged()) {
            if (in.host().selinuxEnforcing()) {
                SELinuxOption o = sc.getSelinuxOptions();
                String level = part(o.getLevel(), "s0", SELINUX_LEVEL, "level");
                spec.selinuxLabel = part(o.getUser(), "system_u", SELINUX_NAME, "user") + ":"
                        + part(o.getRole(), "system_r", SELINUX_NAME, "role") + ":"
                        + part(o.getType(), "container_t", SELINUX_NAME, "type") + ":" + level;
                spec.mountLabel = "system_u:object_r:container_file_t:" + level;
            } else {
                LOG.info("container " + in.containerId() + ": " + unappliedSelinux(in.config(), false).orElseThrow());
            }
        }
    }

    /** The AppArmor profile asked for; empty when none is. */
    static Optional<AppArmorRequest> appArmorRequest(LinuxContainerSecurityContext sc) throws InvalidContainerConfigException {
        if (sc.hasApparmor()) {
            SecurityProfile p = sc.getApparmor();
            return switch (p.getProfileType()) {
                case RuntimeDefault, Unconfined -> Optional.of(new AppArmorRequest(p.getProfileType(), ""));
                case Localhost -> Optional.of(new AppArmorRequest(p.getProfileType(),
                        profileName(p.getLocalhostRef(), "apparmor.localhost_ref")));
                default -> throw new InvalidContainerConfigException("apparmor: unknown profile type " + p.getProfileTypeValue());
            };
        }
        String legacy = sc.getApparmorProfile();
        if (legacy.isEmpty()) {
            return Optional.empty();
        }
        if (legacy.equals("runtime/default")) {
            return Optional.of(new AppArmorRequest(SecurityProfile.ProfileType.RuntimeDefault, ""));
        }
        if (legacy.equals("unconfined")) {
            return Optional.of(new AppArmorRequest(SecurityProfile.ProfileType.Unconfined, ""));
        }
        if (legacy.startsWith("localhost/")) {
            return Optional.of(new AppArmorRequest(SecurityProfile.ProfileType.Localhost,
                    profileName(legacy.substring("localhost/".length()), "apparmor_profile")));
        }
        throw new InvalidContainerConfigException("apparmor_profile '" + legacy
                + "' is not runtime/default, unconfined or localhost/<profile>");
    }

    /** A Localhost profile's name: "localhost/" prefix tolerated, non-empty, no control characters. */
    private static String profileName(String ref, String field) throws InvalidContainerConfigException {
        String name = ref.startsWith("localhost/") ? ref.substring("localhost/".length()) : ref;
        if (name.isEmpty() || name.length() > 4096 || name.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            throw new InvalidContainerConfigException(field + ": '" + ref + "' is not an AppArmor profile name");
        }
        return name;
    }

    private static boolean requested(SELinuxOption o) {
        return !o.getUser().isEmpty() || !o.getRole().isEmpty() || !o.getType().isEmpty() || !o.getLevel().isEmpty();
    }

    private static String part(String given, String dflt, Pattern valid, String field) throws InvalidContainerConfigException {
        if (given.isEmpty()) {
            return dflt;
        }
        if (!valid.matcher(given).matches()) {
            throw new InvalidContainerConfigException("selinux_options." + field + ": '" + given
                    + "' is not an SELinux " + field);
        }
        return given;
    }

    /**
     * What a container's status says about its selinux_options on a host where SELinux does not
     * enforce (empty when nothing was asked, or it was applied).
     */
    public static Optional<String> unappliedSelinux(ContainerConfig config, boolean selinuxEnforcing) {
        LinuxContainerSecurityContext sc = config.getLinux().getSecurityContext();
        SELinuxOption o = sc.getSelinuxOptions();
        if (!requested(o) || selinuxEnforcing || sc.getPrivileged()) {
            return Optional.empty();
        }
        return Optional.of("selinux_options (user=" + o.getUser() + " role=" + o.getRole() + " type=" + o.getType()
                + " level=" + o.getLevel() + ") not applied: SELinux is not enforcing on this host");
    }
}
