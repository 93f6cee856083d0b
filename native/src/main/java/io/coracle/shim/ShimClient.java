package io.coracle.shim;

import io.coracle.oci.OciJson;
import io.coracle.oci.Resources;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * Talks to the shim of one container through {@code <state>/ctl.sock}; works from any daemon
 * process (also after a restart) since everything it needs is in the state directory. Every
 * call has a deadline.
 */
public record ShimClient(Path stateDir) {
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    /** The shim's bound on a request body (CONTROL_BODY_MAX in control.h). */
    static final int MAX_UPDATE_BYTES = 65536;

    public Path controlSocket() {
        return stateDir.resolve("ctl.sock");
    }

    public Path attachSocket() {
        return stateDir.resolve("attach.sock");
    }

    /** Lets the created container exec its command; the shim's reason when it cannot. */
    public void start(Duration timeout) throws IOException {
        expectOk(call("start", timeout), "start");
    }

    public void start() throws IOException {
        start(DEFAULT_TIMEOUT);
    }

    /** Signals the container's first process, or every process of its cgroup when {@code all}. */
    public void kill(int signal, boolean all) throws IOException {
        expectOk(call("kill " + signal + (all ? " all" : ""), DEFAULT_TIMEOUT), "kill");
    }

    public void reopenLog() throws IOException {
        expectOk(call("reopen-log", DEFAULT_TIMEOUT), "reopen-log");
    }

    public void resize(int rows, int cols) throws IOException {
        expectOk(call("resize " + rows + " " + cols, DEFAULT_TIMEOUT), "resize");
    }

    /**
     * Writes the container's new limits (an OCI {@code linux.resources}; absent fields stay as they
     * are) through the shim, with the same translation to cgroup files as at create; under a runtime
     * handler the shim runs {@code <runtime> update --resources}. The shim's reason names the file
     * the kernel refused.
     */
    public void update(Resources resources) throws IOException {
        byte[] json = OciJson.MAPPER.writeValueAsBytes(resources);
        if (json.length > MAX_UPDATE_BYTES) {
            throw new ShimException("update: the resources JSON is " + json.length + " bytes (at most "
                    + MAX_UPDATE_BYTES + ")");
        }
        expectOk(ControlConnection.call(controlSocket(), "update " + json.length, json, DEFAULT_TIMEOUT), "update");
    }

    public void closeStdin() throws IOException {
        expectOk(call("close-stdin", DEFAULT_TIMEOUT), "close-stdin");
    }

    /** The shim's view, or from the files it left when it is gone (stopped, or unknown). */
    public ContainerState state() throws IOException {
        // A shim that is finishing may drop the connection a moment before exit.json exists.
        long deadline = System.nanoTime() + DEFAULT_TIMEOUT.toNanos();
        for (;;) {
            if (Files.exists(controlSocket())) {
                try {
                    String reply = call("state", DEFAULT_TIMEOUT);
                    String[] f = reply.split(" ");
                    if (f.length == 3 && f[0].equals("ok")) {
                        return new ContainerState(f[1], Integer.parseInt(f[2]));
                    }
                    throw new ShimException("state: unexpected reply '" + reply + "'");
                } catch (ShimGoneException e) {
                    // The shim is exiting: look at its files.
                }
            }
            Optional<ExitRecord> exit = exitRecord();
            if (exit.isPresent()) {
                return new ContainerState("stopped", exit.get().pid());
            }
            if (System.nanoTime() > deadline || !shimAlive()) {
                throw new ShimException("no shim answers at " + controlSocket() + " and there is no exit record");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ShimException("interrupted", e);
            }
        }
    }

    /**
     * Waits up to {@code timeout} for a shim that wrote its exit record to finish: its last changes to
     * the state dir (state.json, unlinking its sockets) come after exit.json, so the dir is only stable
     * for deletion once the control socket is gone or the shim is.
     */
    public void awaitFinished(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (Files.exists(controlSocket()) && shimAlive() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private boolean shimAlive() {
        try {
            int pid = stateFile().shimPid();
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return !stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** The shim's state file (written at create, start and exit). */
    public ShimStateFile stateFile() throws IOException {
        return OciJson.read(stateDir.resolve("state.json"), ShimStateFile.class);
    }

    /** The exit record, once the container has exited. */
    public Optional<ExitRecord> exitRecord() throws IOException {
        try {
            return Optional.of(OciJson.read(stateDir.resolve("exit.json"), ExitRecord.class));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    /** Waits up to {@code timeout} for the container to exit; empty if it is still running. */
    public Optional<ExitRecord> awaitExit(Duration timeout) throws IOException {
        Optional<ExitRecord> done = exitRecord();
        if (done.isPresent()) {
            return done;
        }
        try {
            String reply = ControlConnection.call(controlSocket(), "wait", timeout);
            if (reply.startsWith("ok ")) {
                return Optional.of(OciJson.MAPPER.readValue(reply.substring(3), ExitRecord.class));
            }
            throw new ShimException("wait: " + reply);
        } catch (ShimTimeoutException e) {
            return exitRecord(); // still running (or it exited just now)
        } catch (ShimGoneException e) {
            Optional<ExitRecord> rec = exitRecord();
            if (rec.isPresent()) {
                return rec; // it exited between our look at exit.json and the call
            }
            throw new ShimException("the shim at " + stateDir + " is gone without an exit record", e);
        }
    }

    private String call(String request, Duration timeout) throws IOException {
        return ControlConnection.call(controlSocket(), request, timeout);
    }

    private static void expectOk(String reply, String what) throws ShimException {
        if (!reply.equals("ok") && !reply.startsWith("ok ")) {
            throw new ShimException(what + ": " + (reply.startsWith("error ") ? reply.substring(6) : reply));
        }
    }
}
