package io.coracle.sys;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * What this host can enforce, probed once at start-up by {@code coracle-shim probe}: whether
 * {@code mount_setattr(AT_RECURSIVE)} makes a mount and its submounts read-only, which LSMs the
 * kernel runs (from securityfs, else {@code lsm_list_modules}), whether AppArmor is enabled (and
 * {@code apparmor_parser} installed to load profiles), and SELinux's mode.
 *
 * @param lsms     the active LSMs in the kernel's order (empty when the kernel would not say)
 * @param lsmsFrom where the list came from: securityfs, syscall, none
 * @param selinux  enforcing, permissive or disabled
 */
public record HostSecurity(boolean recursiveReadOnly, List<String> lsms, String lsmsFrom, boolean apparmor,
                           boolean apparmorParser, String selinux) {
    private static final Logger LOG = Logger.getLogger(HostSecurity.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_OUTPUT = 64 * 1024;

    /** A host that offers none of it: what a failed probe answers, so nothing is claimed that may not hold. */
    public static final HostSecurity NONE = new HostSecurity(false, List.of(), "none", false, false, "disabled");

    public HostSecurity {
        lsms = List.copyOf(lsms);
    }

    public boolean selinuxEnforcing() {
        return "enforcing".equals(selinux);
    }

    /** One line for the start-up log and Status. */
    public String describe() {
        return "LSMs " + (lsms.isEmpty() ? "unknown" : String.join(",", lsms)) + " (from " + lsmsFrom + "); AppArmor "
                + (apparmor ? "enabled" + (apparmorParser ? "" : " (apparmor_parser missing: RuntimeDefault cannot load)")
                : "not enabled") + "; SELinux " + selinux + "; recursive read-only mounts "
                + (recursiveReadOnly ? "supported" : "not supported");
    }

    /** Runs {@code coracle-shim probe}; a probe that fails is logged and reads as {@link #NONE}. */
    public static HostSecurity probe(NativePrograms programs) {
        try {
            byte[] out = run(List.of(programs.shim().toString(), "probe"));
            return parse(new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            LOG.warning("host security probe failed, assuming no LSM and no recursive read-only mounts: " + e.getMessage());
            return NONE;
        }
    }

    static HostSecurity parse(String json) throws IOException {
        JsonNode n = JSON.readTree(json);
        if (n == null || !n.isObject() || !n.path("recursiveReadOnly").isBoolean() || !n.path("apparmor").isBoolean()) {
            throw new IOException("coracle-shim probe: unexpected answer: " + json.strip());
        }
        String lsms = n.path("lsms").asText("");
        return new HostSecurity(n.path("recursiveReadOnly").asBoolean(),
                lsms.isEmpty() ? List.of() : Arrays.asList(lsms.split(",")), n.path("lsmsFrom").asText("none"),
                n.path("apparmor").asBoolean(), n.path("apparmorParser").asBoolean(),
                n.path("selinux").asText("disabled"));
    }

    /**
     * Whether an OCI runtime (runc, crun) takes the {@code rro} mount option: its {@code features}
     * command lists it among its mountOptions (runc 1.1 and later). A runtime without the command
     * (older crun) is taken not to.
     */
    public static boolean runtimeSupportsRecursiveReadOnly(Path runtime) {
        try {
            JsonNode options = JSON.readTree(run(List.of(runtime.toString(), "features"))).path("mountOptions");
            for (JsonNode o : options) {
                if ("rro".equals(o.asText())) {
                    return true;
                }
            }
        } catch (IOException e) {
            LOG.fine("runtime " + runtime + ": no features: " + e.getMessage());
        }
        return false;
    }

    /**
     * Runs a command with a 10 s limit; its stdout, or an IOException. The answer must fit the pipe
     * (64 KiB): the command is waited for before it is read, so a longer one times out.
     */
    private static byte[] run(List<String> command) throws IOException {
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try (InputStream in = p.getInputStream()) {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(command.get(0) + " did not finish in 10 s");
            }
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", command) + " exited " + p.exitValue());
            }
            return in.readNBytes(MAX_OUTPUT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IOException("interrupted", e);
        }
    }
}
