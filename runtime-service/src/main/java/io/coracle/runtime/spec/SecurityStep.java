package io.coracle.runtime.spec;

import io.coracle.cri.v1.Capability;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Capabilities (Docker's default set, plus adds, minus drops; every one when privileged),
 * no_new_privs, read-only rootfs, masked and read-only paths (containerd's defaults unless given)
 * and the seccomp profile. AppArmor and SELinux: {@link LsmStep}.
 */
public final class SecurityStep implements SpecStep {
    /** What Docker and containerd grant a container that asks for nothing. */
    static final List<String> DEFAULT_CAPABILITIES = List.of(
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
            "CAP_AUDIT_WRITE");

    /** Every capability the kernel knows, in number order (a privileged container gets those the runtime holds). */
    static final List<String> ALL_CAPABILITIES = List.of(
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
            "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
            "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
            "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE");

    /**
     * What "all capabilities" means here: those in the daemon's own bounding set. A runtime cannot
     * grant more (root on some nodes lacks CAP_SYS_RESOURCE), and OCI runtimes fail when asked to.
     */
    static final List<String> HELD_CAPABILITIES = heldCapabilities();

    private static List<String> heldCapabilities() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("CapBnd:")) {
                    long mask = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                    List<String> held = new ArrayList<>();
                    for (int i = 0; i < ALL_CAPABILITIES.size(); i++) {
                        if ((mask & (1L << i)) != 0) {
                            held.add(ALL_CAPABILITIES.get(i));
                        }
                    }
                    return List.copyOf(held);
                }
            }
        } catch (java.io.IOException | NumberFormatException e) {
            // not Linux as expected: keep the full list, the shim drops what it cannot grant
        }
        return ALL_CAPABILITIES;
    }

    static final List<String> DEFAULT_MASKED_PATHS = List.of(
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap");

    static final List<String> DEFAULT_READONLY_PATHS = List.of(
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        LinuxContainerSecurityContext sc = in.config().getLinux().getSecurityContext();
        if (sc.getPrivileged()) {
            spec.capabilities = new ArrayList<>(HELD_CAPABILITIES);
        } else {
            spec.capabilities = capabilities(sc.getCapabilities());
            spec.maskedPaths = new ArrayList<>(sc.getMaskedPathsCount() > 0 ? sc.getMaskedPathsList() : DEFAULT_MASKED_PATHS);
            spec.readonlyPaths = new ArrayList<>(sc.getReadonlyPathsCount() > 0 ? sc.getReadonlyPathsList() : DEFAULT_READONLY_PATHS);
        }
        List<String> ambient = new ArrayList<>();
        for (String cap : sc.getCapabilities().getAddAmbientCapabilitiesList()) {
            String name = canonical(cap, "capabilities.add_ambient_capabilities");
            ambient.add(name);
            if (!spec.capabilities.contains(name)) {
                spec.capabilities.add(name);
            }
        }
        spec.ambientCapabilities = ambient;
        spec.noNewPrivileges = sc.getNoNewPrivs();
        spec.readonlyRootfs = sc.getReadonlyRootfs();
        spec.seccomp = SeccompProfiles.forContainer(sc, spec.capabilities).orElse(null);
    }

    static List<String> capabilities(Capability requested) throws InvalidContainerConfigException {
        Set<String> caps = new LinkedHashSet<>(DEFAULT_CAPABILITIES);
        boolean addAll = false;
        for (String add : requested.getAddCapabilitiesList()) {
            if (add.equalsIgnoreCase("ALL")) {
                addAll = true;
            } else {
                caps.add(canonical(add, "capabilities.add_capabilities"));
            }
        }
        if (addAll) {
            caps.addAll(HELD_CAPABILITIES);
        }
        for (String drop : requested.getDropCapabilitiesList()) {
            if (drop.equalsIgnoreCase("ALL")) {
                caps.clear();
                // adds win over drop ALL, as in containerd
                for (String add : requested.getAddCapabilitiesList()) {
                    if (add.equalsIgnoreCase("ALL")) {
                        caps.addAll(HELD_CAPABILITIES);
                    } else {
                        caps.add(canonical(add, "capabilities.add_capabilities"));
                    }
                }
            } else {
                caps.remove(canonical(drop, "capabilities.drop_capabilities"));
            }
        }
        return new ArrayList<>(caps);
    }

    static String canonical(String cap, String field) throws InvalidContainerConfigException {
        String name = cap.toUpperCase(Locale.ROOT);
        if (!name.startsWith("CAP_")) {
            name = "CAP_" + name;
        }
        if (!ALL_CAPABILITIES.contains(name)) {
            throw new InvalidContainerConfigException(field + ": unknown capability '" + cap + "'");
        }
        return name;
    }
}
