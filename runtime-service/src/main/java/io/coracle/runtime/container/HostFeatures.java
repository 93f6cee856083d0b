package io.coracle.runtime.container;

import io.coracle.runtime.spec.AppArmorProfiles;
import io.coracle.runtime.spec.HostConfinement;
import io.coracle.sys.HostSecurity;
import io.coracle.sys.NativePrograms;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * What this host and each runtime handler can enforce, probed once at start-up: the kernel's
 * LSMs and recursive read-only mounts (coracle-shim probe), and for each configured OCI runtime
 * whether it takes the rro mount option. Status reports it; CreateContainer builds specs from it.
 */
public final class HostFeatures {
    private static final Logger LOG = Logger.getLogger(HostFeatures.class.getName());

    private final HostSecurity security;
    private final Map<String, Boolean> recursiveReadOnly;
    private final AppArmorProfiles apparmor;
    private final String userNamespacesMissing;
    /** Per OCI runtime handler probed: why its pods cannot have user namespaces, or "" when they can. */
    private final Map<String, String> runtimeUserNamespacesMissing;

    public HostFeatures(HostSecurity security, Map<String, Boolean> recursiveReadOnly, AppArmorProfiles apparmor) {
        this(security, recursiveReadOnly, apparmor, "not probed");
    }

    /** userNamespacesMissing: null when pods with user namespaces run on Coracle's own shim, else why not. */
    public HostFeatures(HostSecurity security, Map<String, Boolean> recursiveReadOnly, AppArmorProfiles apparmor,
                        String userNamespacesMissing) {
        this(security, recursiveReadOnly, apparmor, userNamespacesMissing, Map.of());
    }

    /** runtimeUserNamespacesMissing: per runtime handler probed, why not, or "" when it can (unprobed ones cannot). */
    public HostFeatures(HostSecurity security, Map<String, Boolean> recursiveReadOnly, AppArmorProfiles apparmor,
                        String userNamespacesMissing, Map<String, String> runtimeUserNamespacesMissing) {
        this.security = security;
        this.recursiveReadOnly = Map.copyOf(recursiveReadOnly);
        this.apparmor = apparmor;
        this.userNamespacesMissing = userNamespacesMissing;
        this.runtimeUserNamespacesMissing = Map.copyOf(runtimeUserNamespacesMissing);
    }

    /** Probes the host and the handlers; logs one line saying what the host has. */
    public static HostFeatures probe(NativePrograms programs, Map<String, Path> runtimes, Path stateDir) {
        return probe(programs, runtimes, stateDir, null);
    }

    /** The same, with the user namespace probe on layerDir (the root dir: where the layers live). */
    public static HostFeatures probe(NativePrograms programs, Map<String, Path> runtimes, Path stateDir, Path layerDir) {
        HostSecurity security = HostSecurity.probe(programs);
        Map<String, Boolean> rro = new LinkedHashMap<>();
        rro.put("", security.recursiveReadOnly());
        runtimes.forEach((name, path) -> rro.put(name, security.recursiveReadOnly()
                && HostSecurity.runtimeSupportsRecursiveReadOnly(path)));
        AppArmorProfiles apparmor = null;
        if (security.apparmor()) {
            Optional<Path> parser = AppArmorProfiles.findParser();
            // Without the parser, RuntimeDefault containers fail at create with that reason, never run unconfined.
            apparmor = new AppArmorProfiles(parser.orElse(AppArmorProfiles.PARSERS.getFirst()), stateDir.resolve("apparmor"));
        }
        String userns = layerDir == null ? "not probed" : UserNamespaceProbe.run(programs, layerDir);
        // Each OCI runtime runs a tiny container in a user namespace, as a pod's would be run.
        Map<String, String> runtimeUserns = new LinkedHashMap<>();
        runtimes.forEach((name, path) -> {
            String why = userns != null ? "this host does not run pods with user namespaces: " + userns
                    : UserNamespaceProbe.runtime(programs, stateDir.resolve("rootfs"), path);
            runtimeUserns.put(name, why == null ? "" : why);
        });
        LOG.info("host security: " + security.describe() + "; recursive read-only mounts by handler: " + rro
                + "; user namespaces: " + (userns == null ? "yes (Coracle's shim)" : "no: " + userns)
                + runtimeUserns.entrySet().stream().map(h -> "; " + h.getKey() + ": " + (h.getValue().isEmpty()
                        ? "yes" : "no: " + h.getValue())).collect(java.util.stream.Collectors.joining()));
        return new HostFeatures(security, rro, apparmor, userns, runtimeUserns);
    }

    /**
     * Whether pods with user namespaces run on the handler: on Coracle's own shim when the kernel probe
     * passed; on a runc or crun handler when its own probe (a container run in a user namespace) passed.
     */
    public boolean userNamespaces(String handler) {
        return userNamespacesMissing(handler) == null;
    }

    /** Why a pod with a user namespace cannot run on the handler, or null when it can. */
    public String userNamespacesMissing(String handler) {
        if (userNamespacesMissing != null) {
            return "this host does not run pods with user namespaces: " + userNamespacesMissing;
        }
        String why = handler.isEmpty() ? "" : runtimeUserNamespacesMissing.getOrDefault(handler, "not probed");
        return why.isEmpty() ? null
                : "the runtime handler '" + handler + "' does not run pods with user namespaces here: " + why;
    }

    public HostSecurity security() {
        return security;
    }

    /** Whether the handler ("" for Coracle's own shim) makes recursive read-only mounts. */
    public boolean recursiveReadOnly(String handler) {
        return recursiveReadOnly.getOrDefault(handler, false);
    }

    /** What the spec of a container of a pod on this handler can ask for. */
    public HostConfinement confinement(String handler) {
        return new HostConfinement(recursiveReadOnly(handler), apparmor, security.selinuxEnforcing());
    }
}
