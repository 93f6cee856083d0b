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

    public HostFeatures(HostSecurity security, Map<String, Boolean> recursiveReadOnly, AppArmorProfiles apparmor) {
        this(security, recursiveReadOnly, apparmor, "not probed");
    }

    /** userNamespacesMissing: null when pods with user namespaces run on Coracle's own shim, else why not. */
    public HostFeatures(HostSecurity security, Map<String, Boolean> recursiveReadOnly, AppArmorProfiles apparmor,
                        String userNamespacesMissing) {
        this.security = security;
        this.recursiveReadOnly = Map.copyOf(recursiveReadOnly);
        this.apparmor = apparmor;
        this.userNamespacesMissing = userNamespacesMissing;
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
        LOG.info("host security: " + security.describe() + "; recursive read-only mounts by handler: " + rro
                + "; user namespaces: " + (userns == null ? "yes (Coracle's shim)" : "no: " + userns));
        return new HostFeatures(security, rro, apparmor, userns);
    }

    /**
     * Whether pods with user namespaces run on the handler: on Coracle's own shim when the kernel probe
     * passed; never on runc or crun handlers, which would need the pod's idmapped layers passed to them.
     */
    public boolean userNamespaces(String handler) {
        return handler.isEmpty() && userNamespacesMissing == null;
    }

    /** Why a pod with a user namespace cannot run on the handler, or null when it can. */
    public String userNamespacesMissing(String handler) {
        if (!handler.isEmpty()) {
            return "the runtime handler '" + handler + "' does not run pods with user namespaces here (Coracle's own does)";
        }
        return userNamespacesMissing == null ? null : "this host does not run pods with user namespaces: " + userNamespacesMissing;
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
