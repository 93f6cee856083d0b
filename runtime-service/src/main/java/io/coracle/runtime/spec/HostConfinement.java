package io.coracle.runtime.spec;

/**
 * What the host and a pod's runtime handler can enforce, as the spec steps need it.
 *
 * @param recursiveReadOnly the handler makes a bind and its submounts read-only (CRI recursive_read_only)
 * @param apparmor          the host's AppArmor (its default profile loads on first use); null when AppArmor is not enabled
 * @param selinuxEnforcing  SELinux enforces on this host, so selinux_options become labels
 */
public record HostConfinement(boolean recursiveReadOnly, AppArmorProfiles apparmor, boolean selinuxEnforcing) {
    /** A host that offers none of these. */
    public static final HostConfinement NONE = new HostConfinement(false, null, false);
}
