package io.coracle.sandbox;

import static io.coracle.sandbox.RequestChecks.invalid;
import static io.coracle.sandbox.RequestChecks.show;

import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.oci.Ids;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.PortMapping;
import io.coracle.cri.v1.RunPodSandboxRequest;
import java.util.regex.Pattern;

/**
 * Every field of a RunPodSandbox request, checked before anything is created; an
 * {@link InvalidRequestException} names the field path (config.linux.cgroup_parent, ...).
 */
public record PodSandboxConfigValidator(SandboxConfig.CgroupDriver driver, LinuxResourcesValidator resources) {
    static final Pattern HOSTNAME = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9.-]{0,62})?");
    private static final Pattern IPV4 = Pattern.compile("((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)");

    public void check(RunPodSandboxRequest request) {
        RequestChecks.maxBytes("runtime_handler", request.getRuntimeHandler(), RequestChecks.NAME_MAX);
        check(request.getConfig());
    }

    public void check(PodSandboxConfig cfg) {
        if (!cfg.hasMetadata()) {
            throw invalid("config.metadata", "missing (the sandbox config has no metadata)");
        }
        PodSandboxMetadata meta = cfg.getMetadata();
        RequestChecks.name("config.metadata.name", meta.getName());
        RequestChecks.name("config.metadata.namespace", meta.getNamespace());
        RequestChecks.name("config.metadata.uid", meta.getUid());
        if (meta.getAttempt() < 0) {
            throw invalid("config.metadata.attempt", meta.getAttempt() + " is negative");
        }
        ids(cfg.getLinux().getSecurityContext());
        var ns = cfg.getLinux().getSecurityContext().getNamespaceOptions();
        String nsField = "config.linux.security_context.namespace_options.";
        podOrNode(nsField + "network", "network", ns.getNetwork());
        podOrNode(nsField + "ipc", "ipc", ns.getIpc());
        if (ns.getPid() != NamespaceMode.POD && ns.getPid() != NamespaceMode.CONTAINER && ns.getPid() != NamespaceMode.NODE) {
            throw invalid(nsField + "pid", "pid namespace mode " + ns.getPidValue() + " (" + ns.getPid()
                    + ") is not supported for a pod: use POD, CONTAINER or NODE");
        }
        if (!cfg.getHostname().isEmpty() && ns.getNetwork() != NamespaceMode.NODE
                && !HOSTNAME.matcher(cfg.getHostname()).matches()) {
            throw invalid("config.hostname", "hostname " + show(cfg.getHostname())
                    + " is invalid (letters, digits, '.', '-'; at most 63)");
        }
        if (!cfg.getLogDirectory().isEmpty()) {
            RequestChecks.absolutePath("config.log_directory", cfg.getLogDirectory());
        }
        try {
            PodFiles.validate(cfg.getDnsConfig());
        } catch (InvalidRequestException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw invalid("config.dns_config", e.getMessage());
        }
        for (int i = 0; i < cfg.getPortMappingsCount(); i++) {
            port("config.port_mappings[" + i + "]", cfg.getPortMappings(i));
        }
        RequestChecks.stringMap("config.labels", cfg.getLabelsMap());
        RequestChecks.stringMap("config.annotations", cfg.getAnnotationsMap());
        var linux = cfg.getLinux();
        cgroupParent("config.linux.cgroup_parent", linux.getCgroupParent());
        try {
            PodSysctls.validate(linux.getSysctlsMap(), ns.getNetwork() == NamespaceMode.NODE, ns.getIpc() == NamespaceMode.NODE);
        } catch (InvalidRequestException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw invalid("config.linux.sysctls", e.getMessage());
        }
        if (linux.hasResources()) {
            resources.check("config.linux.resources", linux.getResources());
        }
        if (linux.hasOverhead()) {
            resources.check("config.linux.overhead", linux.getOverhead());
        }
    }

    /**
     * The pod's ids, though the pause runs as root: a spec naming an id no container may take is
     * refused whole. A user namespace (userns_options) is checked by {@link PodUserNamespace}.
     */
    private static void ids(LinuxSandboxSecurityContext sc) {
        String at = "config.linux.security_context.";
        if (sc.hasRunAsUser() && !Ids.valid(sc.getRunAsUser().getValue())) {
            throw invalid(at + "run_as_user", sc.getRunAsUser().getValue() + " is out of range " + Ids.RANGE);
        }
        if (sc.hasRunAsGroup() && !Ids.valid(sc.getRunAsGroup().getValue())) {
            throw invalid(at + "run_as_group", sc.getRunAsGroup().getValue() + " is out of range " + Ids.RANGE);
        }
        for (int i = 0; i < sc.getSupplementalGroupsCount(); i++) {
            if (!Ids.valid(sc.getSupplementalGroups(i))) {
                throw invalid(at + "supplemental_groups[" + i + "]",
                        sc.getSupplementalGroups(i) + " is out of range " + Ids.RANGE);
            }
        }
        NamespaceOption ns = sc.getNamespaceOptions();
        PodUserNamespace userns = PodUserNamespace.of(at + "namespace_options.userns_options",
                ns.hasUsernsOptions() ? ns.getUsernsOptions() : null);
        if (userns != null && (ns.getNetwork() == NamespaceMode.NODE || ns.getPid() == NamespaceMode.NODE
                || ns.getIpc() == NamespaceMode.NODE || sc.getPrivileged())) {
            // As the kubelet's own validation: the node's namespaces belong to the node's user namespace.
            throw invalid(at + "namespace_options.userns_options", "a pod user namespace cannot go with host network,"
                    + " PID or IPC, or a privileged pod");
        }
    }

    private static void podOrNode(String field, String kind, NamespaceMode mode) {
        if (mode != NamespaceMode.POD && mode != NamespaceMode.NODE) {
            throw invalid(field, kind + " namespace mode " + mode + " is not supported for a pod: use POD or NODE");
        }
    }

    private static void port(String field, PortMapping p) {
        if (p.getContainerPort() <= 0 || p.getContainerPort() > 65535) {
            throw invalid(field + ".container_port", p.getContainerPort() + " is outside 1..65535");
        }
        if (p.getHostPort() < 0 || p.getHostPort() > 65535) {
            throw invalid(field + ".host_port", p.getHostPort() + " is outside 0..65535");
        }
        if (p.getProtocolValue() < 0 || p.getProtocolValue() > 2) {
            throw invalid(field + ".protocol", "protocol " + p.getProtocolValue() + " is unknown (TCP, UDP or SCTP)");
        }
        if (!p.getHostIp().isEmpty() && !ipLiteral(p.getHostIp())) {
            throw invalid(field + ".host_ip", show(p.getHostIp()) + " is not an IP address");
        }
    }

    /** An IPv4 or IPv6 literal, parsed without any name lookup. */
    public static boolean ipLiteral(String s) {
        if (IPV4.matcher(s).matches()) {
            return true;
        }
        if (s.length() > 45 || !s.contains(":") || !s.matches("[0-9A-Fa-f:.]+")) {
            return false;
        }
        try {
            return java.net.InetAddress.getByName(s) instanceof java.net.Inet6Address; // a literal: no lookup
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    private void cgroupParent(String field, String parent) {
        if (parent.isEmpty()) {
            return;
        }
        if (driver == SandboxConfig.CgroupDriver.SYSTEMD) {
            RequestChecks.maxBytes(field, parent, RequestChecks.NAME_MAX);
            try {
                PodCgroup.expandSlice(parent);
            } catch (IllegalArgumentException e) {
                throw invalid(field, e.getMessage());
            }
        } else {
            RequestChecks.absolutePath(field, parent);
            if (parent.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
                throw invalid(field, show(parent) + " holds control characters");
            }
        }
    }
}
