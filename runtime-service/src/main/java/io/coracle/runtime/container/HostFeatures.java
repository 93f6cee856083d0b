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

    public HostFeatures(HostSecurity security, Map<String, Boolean> recursiveReadOnly, AppArmorProfiles apparmor) {
        this.security = security;
        this.recursiveReadOnly = Map.copyOf(recursiveReadOnly);
        this.apparmor = apparmor;
    }

    /** Probes the host and the handlers; logs one line saying what the host has. */
    public static HostFeatures probe(NativePrograms programs, Map<String, Path> runtimes, Path stateDir) {
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
        LOG.info("host security: " + security.describe() + "; recursive read-only mounts by handler: " + rro);
        return new HostFeatures(security, rro, apparmor);
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
