package io.coracle.shim;

import io.coracle.oci.OciJson;
import io.coracle.sys.NativePrograms;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs a process inside a running container with {@code coracle-shim exec} (for ExecSync):
 * collects stdout and stderr within one bound for both, and kills the process when the timeout passes.
 */
public record ExecRunner(NativePrograms programs) {
    /**
     * Runs {@code process} and returns at most {@code outputLimit} bytes of stdout and stderr together
     * (see {@link #fairShares}); output past that is read and dropped, so the process never blocks on a
     * full pipe.
     */
    public ExecResult run(ShimClient container, io.coracle.oci.Process process, Duration timeout, int outputLimit)
            throws IOException {
        if (outputLimit < 0) {
            throw new IllegalArgumentException("output limit " + outputLimit + " is negative");
        }
        Path dir = container.stateDir();
        Path procFile = Files.createTempFile(dir, "exec-", ".json");
        Path exitFile = dir.resolve(procFile.getFileName().toString().replace(".json", ".exit"));
        try {
            OciJson.write(procFile, process);
            java.lang.Process p = new ProcessBuilder(List.of(programs.shim().toString(), "exec", "--state",
                    dir.toString(), "--process", procFile.toString(), "--exit-file", exitFile.toString()))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
            // Each stream keeps up to the whole limit while reading; fairShares trims the pair at the end.
            Thread outReader = Thread.ofVirtual().start(() -> drain(p.getInputStream(), out, outputLimit));
            Thread errReader = Thread.ofVirtual().start(() -> drain(p.getErrorStream(), err, outputLimit));
            boolean timedOut = false;
            try {
                if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    timedOut = true;
                    p.destroy(); // SIGTERM: the shim SIGKILLs the process and exits
                    if (!p.waitFor(2, TimeUnit.SECONDS)) {
                        p.destroyForcibly(); // the process dies with the shim (parent-death signal)
                        p.waitFor(2, TimeUnit.SECONDS);
                    }
                }
                // Output pipes close when the process and any children holding them are gone; a
                // daemon left behind in the container may keep them open: stop reading then.
                if (!outReader.join(Duration.ofSeconds(2))) {
                    p.getInputStream().close();
                }
                if (!errReader.join(Duration.ofSeconds(2))) {
                    p.getErrorStream().close();
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new ShimException("interrupted during exec", e);
            }
            if (!timedOut && Files.exists(exitFile)) {
                Map<?, ?> rec = OciJson.read(exitFile, Map.class);
                if (rec.get("error") != null) {
                    throw failure(rec);
                }
            } else if (!timedOut) {
                throw new ShimException("exec: the shim exited " + p.exitValue() + " without an exit record: "
                        + err.toString(StandardCharsets.UTF_8).trim());
            }
            int code = timedOut ? 137 : p.exitValue();
            byte[] stdout = snapshot(out), stderr = snapshot(err);
            int[] shares = fairShares(stdout.length, stderr.length, outputLimit);
            return new ExecResult(code, Arrays.copyOf(stdout, shares[0]), Arrays.copyOf(stderr, shares[1]), timedOut);
        } finally {
            Files.deleteIfExists(procFile);
            Files.deleteIfExists(exitFile);
        }
    }

    /**
     * Starts an interactive exec (CRI Exec, for the streaming server): the session's process has
     * the exec'd process's stdin, stdout and stderr (with tty: one pty, on stdout), and
     * {@link ExecSession#resize} resizes the pty. Destroying the process (SIGTERM) kills the exec'd
     * process too. {@link ExecSession#exitCode()} completes with the exec'd process's exit code, or
     * with a ShimException when the shim could not run it (no such command, container gone).
     */
    public ExecSession start(ShimClient container, io.coracle.oci.Process process, boolean tty) throws IOException {
        Path procFile = Files.createTempFile(container.stateDir(), "exec-", ".json");
        Path exitFile = container.stateDir().resolve(procFile.getFileName().toString().replace(".json", ".exit"));
        OciJson.write(procFile, process);
        List<String> cmd = new java.util.ArrayList<>(List.of(programs.shim().toString(), "exec", "--state",
                container.stateDir().toString(), "--process", procFile.toString(), "--exit-file", exitFile.toString()));
        Path fifo = null;
        if (tty) {
            fifo = container.stateDir().resolve(procFile.getFileName().toString().replace(".json", ".resize"));
            io.coracle.sys.Syscalls.mkfifo(fifo, 0600);
            cmd.addAll(List.of("--tty", "--resize-fifo", fifo.toString()));
        }
        java.lang.Process p;
        try {
            p = new ProcessBuilder(cmd).start();
        } catch (IOException e) {
            Files.deleteIfExists(procFile);
            if (fifo != null) {
                Files.deleteIfExists(fifo);
            }
            throw e;
        }
        Path resizeFifo = fifo;
        CompletableFuture<Integer> exitCode = new CompletableFuture<>();
        // The shim reads the file before it forks; remove the files once the exec is over.
        p.onExit().thenRun(() -> {
            procFile.toFile().delete();
            if (resizeFifo != null) {
                resizeFifo.toFile().delete();
            }
            try {
                if (!Files.exists(exitFile)) {
                    exitCode.completeExceptionally(new ShimException("exec: the shim exited " + p.exitValue()
                            + " without an exit record"));
                    return;
                }
                Map<?, ?> rec = OciJson.read(exitFile, Map.class);
                if (rec.get("error") != null) {
                    exitCode.completeExceptionally(failure(rec));
                } else {
                    exitCode.complete(((Number) rec.get("exitCode")).intValue());
                }
            } catch (IOException | RuntimeException e) {
                exitCode.completeExceptionally(new ShimException("exec: unreadable exit record " + exitFile, e));
            } finally {
                exitFile.toFile().delete();
            }
        });
        return new ExecSession(p, resizeFifo, exitCode);
    }

    /** The exit record of an exec that could not start: its "class" says whether the command or the shim is at fault. */
    private static ShimException failure(Map<?, ?> rec) {
        String message = "exec: " + rec.get("error");
        return new ShimException("invalid".equals(rec.get("class")) ? ShimException.ErrorClass.INVALID
                : ShimException.ErrorClass.INTERNAL, message);
    }

    /**
     * How many leading bytes of each stream fit in {@code limit} together: all of both when they fit;
     * otherwise each stream keeps at least half the limit, or all of itself when that is less, and
     * the other stream gets the rest.
     */
    static int[] fairShares(int stdout, int stderr, int limit) {
        if ((long) stdout + stderr <= limit) {
            return new int[] {stdout, stderr};
        }
        int half = limit / 2;
        if (stdout <= half) {
            return new int[] {stdout, limit - stdout};
        }
        if (stderr <= half) {
            return new int[] {limit - stderr, stderr};
        }
        return new int[] {half, limit - half};
    }

    private static byte[] snapshot(ByteArrayOutputStream sink) {
        synchronized (sink) {
            return sink.toByteArray();
        }
    }

    private static void drain(InputStream in, ByteArrayOutputStream sink, int cap) {
        byte[] buf = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(buf)) > 0) {
                synchronized (sink) {
                    if (sink.size() < cap) {
                        sink.write(buf, 0, Math.min(n, cap - sink.size()));
                    }
                }
            }
        } catch (IOException e) {
            // The pipe broke: the process is gone; keep what was read.
        }
    }
}
