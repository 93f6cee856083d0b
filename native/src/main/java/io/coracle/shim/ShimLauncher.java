package io.coracle.shim;

import io.coracle.sys.PrivateFiles;
import io.coracle.sys.NativePrograms;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Starts {@code coracle-shim create} and waits (bounded) until the container is created. */
public record ShimLauncher(NativePrograms programs) {
    /** The exit status of {@code coracle-shim create} when the request, not the host, is at fault. */
    static final int EXIT_INVALID = 65;


    /** A created container: its shim's client and the container's first process (host PID). */
    public record Created(ShimClient client, int pid) {}

    /**
     * Creates the container. The shim detaches; this returns when the container process exists,
     * isolated and waiting for {@link ShimClient#start}. Fails with the shim's reason (the failing
     * call and errno, or the config field at fault), leaving nothing behind.
     */
    public Created create(CreateRequest req, Duration timeout) throws IOException {
        boolean madeStateDir = !Files.exists(req.stateDir());
        PrivateFiles.directory(req.stateDir());
        try {
            return launch(req, timeout);
        } catch (IOException | RuntimeException e) {
            if (madeStateDir) {
                removeTree(req.stateDir()); // the shim left nothing else behind
            }
            throw e;
        }
    }

    private static void removeTree(Path dir) {
        try {
            io.coracle.sys.FileTrees.delete(dir);
        } catch (IOException e) {
            // best effort: the error that matters is the create failure
        }
    }

    private Created launch(CreateRequest req, Duration timeout) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(programs.shim().toString(), "create",
                "--bundle", req.bundle().toString(), "--state", req.stateDir().toString()));
        if (req.logFile() != null) {
            cmd.add("--log");
            cmd.add(req.logFile().toString());
        }
        if (req.stdin()) {
            cmd.add("--stdin");
        }
        if (req.runtime() != null) {
            cmd.add("--runtime");
            cmd.add(req.runtime().toString());
        }
        if (req.restorePlan() != null) {
            cmd.add("--restore");
            cmd.add(req.restorePlan().toString());
        }
        if (req.shimCgroup() != null && !req.shimCgroup().isEmpty()) {
            cmd.add("--cgroup");
            cmd.add(req.shimCgroup());
        }
        ProcessBuilder builder = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(
                new java.io.File("/dev/null")));
        // systemd's notify socket is the daemon's alone: an OCI runtime (runc) would pass it to the container.
        builder.environment().keySet().removeIf(k -> k.equals("NOTIFY_SOCKET") || k.startsWith("WATCHDOG_"));
        java.lang.Process launcher = builder.start();
        try {
            if (!launcher.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                launcher.destroyForcibly();
                throw new ShimException("coracle-shim create did not finish within " + timeout
                        + " (state " + req.stateDir() + ")");
            }
        } catch (InterruptedException e) {
            launcher.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new ShimException("interrupted while creating the container", e);
        }
        String out = readAll(launcher.getInputStream()).trim();
        String err = readAll(launcher.getErrorStream()).trim();
        if (launcher.exitValue() != 0) {
            // The shim's class of the failure is its exit status: 65 (EX_DATAERR) when the request is at fault.
            throw new ShimException(launcher.exitValue() == EXIT_INVALID ? ShimException.ErrorClass.INVALID
                    : ShimException.ErrorClass.INTERNAL,
                    err.isEmpty() ? "coracle-shim create exited " + launcher.exitValue() : err);
        }
        try {
            return new Created(new ShimClient(req.stateDir()), Integer.parseInt(out));
        } catch (NumberFormatException e) {
            throw new ShimException("coracle-shim create printed '" + out + "', not a PID");
        }
    }

    private static String readAll(InputStream in) throws IOException {
        // The launcher has exited and the shim's stdio is /dev/null: these pipes are at EOF.
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
}
