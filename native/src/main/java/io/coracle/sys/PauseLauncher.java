package io.coracle.sys;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Starts a pod's pause process in new namespaces with {@code coracle-pause --unshare}: the JVM,
 * being multi-threaded, cannot unshare them itself. Returns the pause PID once it is ready;
 * the namespaces are then at /proc/PID/ns/{net,ipc,uts,pid}.
 */
public record PauseLauncher(NativePrograms programs) {
    /** namespaces: any of net, ipc, uts, pid, mnt, cgroup; hostname needs uts; pidFile may be null. */
    public int launch(Set<String> namespaces, String hostname, Path pidFile, Duration timeout) throws IOException {
        return launch(namespaces, hostname, pidFile, timeout, List.of());
    }

    /** The same with more arguments for coracle-pause: --uid-map and --gid-map make a user namespace first. */
    public int launch(Set<String> namespaces, String hostname, Path pidFile, Duration timeout, List<String> extra)
            throws IOException {
        List<String> cmd = new ArrayList<>(List.of(programs.pause().toString(), "--unshare", String.join(",", namespaces)));
        cmd.addAll(extra);
        if (hostname != null) {
            cmd.addAll(List.of("--hostname", hostname));
        }
        if (pidFile != null) {
            cmd.addAll(List.of("--pidfile", pidFile.toString()));
        }
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException("coracle-pause did not report within " + timeout);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting the pause process", e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (p.exitValue() != 0) {
            throw new IOException(err.isEmpty() ? "coracle-pause exited " + p.exitValue() : err);
        }
        return Integer.parseInt(out);
    }
}
