package io.coracle.cgroup;

import io.coracle.oci.OciJson;
import io.coracle.oci.Resources;
import io.coracle.sys.NativePrograms;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Creates a cgroup that no container owns (a pod's) with {@code coracle-shim cgroup --path}: the
 * shim's cgroup code is the only writer of limits, for containers (at create and update, through
 * their shim) and for pods alike, so the OCI resources become cgroup files in one place.
 */
public record CgroupCreator(NativePrograms programs) {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    /** Creates the cgroup (and missing parents) in every hierarchy and applies the resources (null: none). */
    public void create(String path, Resources resources) throws IOException {
        byte[] json = OciJson.MAPPER.writeValueAsBytes(resources);
        Process p = new ProcessBuilder(List.of(programs.shim().toString(), "cgroup", "--path", path))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(json);
        } catch (IOException e) {
            // The shim exited early: its message says why.
        }
        try {
            if (!p.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException("coracle-shim cgroup --path " + path + " did not finish within " + TIMEOUT);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while creating cgroup " + path, e);
        }
        if (p.exitValue() != 0) {
            // Its last line says why (earlier ones are warnings, e.g. a controller it went on without).
            String err = new String(p.getErrorStream().readNBytes(8192), StandardCharsets.UTF_8).strip();
            String why = err.substring(err.lastIndexOf('\n') + 1).replaceFirst("^coracle-shim: ", "");
            throw new IOException(why.isEmpty() ? "coracle-shim cgroup --path " + path + " exited " + p.exitValue() : why);
        }
    }
}
