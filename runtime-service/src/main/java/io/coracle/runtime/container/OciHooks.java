package io.coracle.runtime.container;

import com.fasterxml.jackson.core.type.TypeReference;
import io.coracle.oci.Hook;
import io.coracle.oci.OciJson;
import io.coracle.oci.Spec;
import io.coracle.sys.PrivateFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * A container's OCI hooks (config.json {@code hooks}; only CDI specs, host configuration, add any)
 * run for Coracle's own shim the way runc runs them: each hook's path with its args and only its
 * env, the container's state JSON on stdin, bounded by its timeout (else {@link #DEFAULT_TIMEOUT}),
 * killed with its children when over it. prestart, createRuntime and createContainer run once the
 * shim created the container (before its command runs), in the host's namespaces, so they reach
 * the container through the state's pid and bundle; startContainer runs inside the container's
 * mount namespace (its path resolves there) right before the command starts; poststart after it
 * started, poststop once it is gone. A failure before the start fails the RPC; after it, it is
 * logged. An OCI runtime handler (runc, crun) runs the hooks of config.json itself: then this
 * class is not used. The hooks are kept in the container's private dir ({@link #FILE}).
 */
final class OciHooks {
    private static final Logger LOG = Logger.getLogger(OciHooks.class.getName());
    static final String FILE = "hooks.json";
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
    static final int OUTPUT_MAX = 4096;

    /** What is kept: the hooks by name and the state's annotations. */
    record Plan(Map<String, List<Hook>> hooks, Map<String, String> annotations) {}

    private OciHooks() {}

    /** Keeps the spec's hooks for the start and the removal; returns them. */
    static Plan save(Path containerDir, Spec spec) throws IOException {
        if (spec.hooks() == null || spec.hooks().isEmpty()) {
            return new Plan(Map.of(), Map.of());
        }
        Plan plan = new Plan(spec.hooks(), spec.annotations());
        PrivateFiles.write(containerDir.resolve(FILE), OciJson.MAPPER.writeValueAsBytes(plan), false);
        return plan;
    }

    /** The container's hooks; empty when it has none (or an OCI runtime handler runs them). */
    static Plan load(Path containerDir) {
        try {
            return OciJson.MAPPER.readValue(Files.readAllBytes(containerDir.resolve(FILE)), new TypeReference<Plan>() {});
        } catch (NoSuchFileException e) {
            return new Plan(Map.of(), Map.of());
        } catch (IOException e) {
            LOG.warning("hooks of " + containerDir + " unreadable: " + e.getMessage());
            return new Plan(Map.of(), Map.of());
        }
    }

    /** Runs every hook of the given names in order; the first that fails ends it with an IOException. */
    static void run(Plan plan, String id, int pid, Path bundle, String status, String... names) throws IOException {
        for (String name : names) {
            for (Hook h : plan.hooks().getOrDefault(name, List.of())) {
                runOne(name, h, state(id, pid, bundle, status, plan.annotations()), pid);
            }
        }
    }

    /** As {@link #run}, logging failures instead (poststart, poststop). */
    static void runLogged(Plan plan, String id, int pid, Path bundle, String status, String name) {
        for (Hook h : plan.hooks().getOrDefault(name, List.of())) {
            try {
                runOne(name, h, state(id, pid, bundle, status, plan.annotations()), pid);
            } catch (IOException e) {
                LOG.warning("container " + id + ": " + e.getMessage());
            }
        }
    }

    private static byte[] state(String id, int pid, Path bundle, String status, Map<String, String> annotations)
            throws IOException {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("ociVersion", Spec.VERSION);
        s.put("id", id);
        s.put("status", status);
        if (pid > 0) {
            s.put("pid", pid);
        }
        s.put("bundle", bundle.toString());
        s.put("annotations", annotations == null ? Map.of() : annotations);
        return OciJson.MAPPER.writeValueAsBytes(s);
    }

    private static void runOne(String name, Hook h, byte[] state, int pid) throws IOException {
        List<String> cmd = new ArrayList<>();
        if (name.equals("startContainer")) {
            if (pid <= 0) {
                throw new IOException("hook " + name + " " + h.path() + ": the container has no process");
            }
            // Into every namespace of the container, as runc runs it: its root becomes "/", where the
            // path resolves, and a binary the image put there runs as the container's root (its user
            // namespace, PID and network namespaces), never as the host's.
            cmd.addAll(List.of("nsenter", "--target", Integer.toString(pid), "--all", "--"));
        }
        cmd.add(h.path());
        // args[0] is the hook's argv[0]; a ProcessBuilder runs the path as argv[0].
        if (h.args() != null && h.args().size() > 1) {
            cmd.addAll(h.args().subList(1, h.args().size()));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().clear();
        for (String e : h.env() == null ? List.<String>of() : h.env()) {
            int eq = e.indexOf('=');
            pb.environment().put(e.substring(0, eq), e.substring(eq + 1));
        }
        if (name.equals("startContainer")) {
            pb.environment().putIfAbsent("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        }
        Duration timeout = h.timeout() != null ? Duration.ofSeconds(h.timeout()) : DEFAULT_TIMEOUT;
        String what = "hook " + name + " " + h.path();
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new IOException(what + ": cannot run: " + e.getMessage(), e);
        }
        byte[][] out = {new byte[0]};
        Thread reader = Thread.ofVirtual().start(() -> {
            try (InputStream in = p.getInputStream()) {
                out[0] = in.readNBytes(OUTPUT_MAX);
                in.transferTo(OutputStream.nullOutputStream());
            } catch (IOException ignored) {
                // the hook closed its output
            }
        });
        // Written beside the wait: a state larger than the pipe's buffer, to a hook that never reads its
        // stdin, must not block past the hook's timeout.
        Thread.ofVirtual().start(() -> {
            try (OutputStream in = p.getOutputStream()) {
                in.write(state);
            } catch (IOException ignored) {
                // a hook that does not read its stdin
            }
        });
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                throw new IOException(what + ": did not finish within " + timeout.toSeconds() + " s (killed)");
            }
            reader.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException(what + ": interrupted", e);
        }
        if (p.exitValue() != 0) {
            String text = new String(out[0], StandardCharsets.UTF_8).strip();
            throw new IOException(what + ": exited " + p.exitValue() + (text.isEmpty() ? "" : ": " + text));
        }
    }
}
