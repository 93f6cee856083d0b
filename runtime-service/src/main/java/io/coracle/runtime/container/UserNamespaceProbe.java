package io.coracle.runtime.container;

import io.coracle.sys.NativePrograms;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code coracle-shim userns-probe DIR}: a user namespace, idmapped copies of two directories
 * made in DIR and an overlay over them, as a pod with user namespaces needs them on this kernel; and,
 * per OCI runtime handler, a tiny container of the runtime in a user namespace.
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
        return probe(programs, java.util.List.of(dir.toString()), 10);
    }

    /**
     * Whether the OCI runtime runs a pod's container in a user namespace here: {@code coracle-shim
     * userns-probe DIR --runtime PATH} runs a tiny one, its rootfs in a new directory under base (where
     * containers of runtime handlers in user namespaces get theirs), removed after. null, or why not.
     */
    static String runtime(NativePrograms programs, Path base, Path runtime) {
        if (!Files.isExecutable(runtime)) {
            return runtime + " is not an executable";
        }
        for (Path p = base.toAbsolutePath().getParent(); p != null; p = p.getParent()) {
            try {
                if (!Files.getPosixFilePermissions(p).contains(java.nio.file.attribute.PosixFilePermission.OTHERS_EXECUTE)) {
                    return "the runtime mounts the rootfs by its path from inside the user namespace, and " + p
                            + " (above the state dir's rootfs/) does not let others pass (0711)";
                }
            } catch (IOException e) {
                return "stat " + p + ": " + e.getMessage();
            }
        }
        Path dir = null;
        try {
            io.coracle.sys.PrivateFiles.directory(base, io.coracle.sys.PrivateFiles.TRAVERSABLE);
            dir = Files.createTempDirectory(base, "probe-", java.nio.file.attribute.PosixFilePermissions
                    .asFileAttribute(io.coracle.sys.PrivateFiles.TRAVERSABLE));
            return probe(programs, java.util.List.of(dir.toString(), "--runtime", runtime.toString()), 30);
        } catch (IOException e) {
            return "probe directory under " + base + ": " + e.getMessage();
        } finally {
            if (dir != null) {
                try {
                    io.coracle.sys.FileTrees.delete(dir);
                } catch (IOException e) {
                    java.util.logging.Logger.getLogger(UserNamespaceProbe.class.getName())
                            .warning("user namespace probe of " + runtime + ": cannot remove " + dir + ": " + e);
                }
            }
        }
    }

    private static String probe(NativePrograms programs, java.util.List<String> args, int seconds) {
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of(programs.shim().toString(), "userns-probe"));
        cmd.addAll(args);
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "coracle-shim userns-probe did not answer within " + seconds + " s";
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
