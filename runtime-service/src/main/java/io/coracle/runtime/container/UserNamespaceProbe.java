package io.coracle.runtime.container;

import io.coracle.sys.NativePrograms;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code coracle-shim userns-probe DIR}: a user namespace, idmapped copies of two directories
 * made in DIR and an overlay over them, as a pod with user namespaces needs them on this kernel.
 */
final class UserNamespaceProbe {
    private UserNamespaceProbe() {
    }

    /** null when it works, else the failing step as the probe reports it. */
    static String run(NativePrograms programs, Path layerDir) {
        Path dir = layerDir;
        while (dir != null && !Files.isDirectory(dir)) {
            dir = dir.getParent();
        }
        if (dir == null) {
            return "no directory to probe at " + layerDir;
        }
        try {
            Process p = new ProcessBuilder(programs.shim().toString(), "userns-probe", dir.toString())
                    .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "coracle-shim userns-probe did not answer within 10 s";
            }
            byte[] out = p.getInputStream().readNBytes(2048);
            String text = new String(out, StandardCharsets.UTF_8).strip();
            return p.exitValue() == 0 ? null : text.isEmpty() ? "userns-probe exited " + p.exitValue() : text;
        } catch (IOException e) {
            return "coracle-shim userns-probe: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }
}
