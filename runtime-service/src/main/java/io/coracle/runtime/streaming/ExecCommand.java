package io.coracle.runtime.streaming;

import io.coracle.oci.Process;
import io.coracle.shim.ExecRunner;
import io.coracle.shim.ExecSession;
import io.coracle.shim.ShimClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.logging.Logger;

/**
 * A streaming exec: the command runs through the shim's exec mode (the container's namespaces,
 * cgroup, user and capabilities), with a pty when tty is set. A client that goes away closes a
 * plain exec's stdin (the command may finish on its own) and hangs up a terminal exec (SIGKILL).
 */
final class ExecCommand implements StreamedCommand {
    private static final Logger LOG = Logger.getLogger(ExecCommand.class.getName());
    /** How long output may still drain after the command exited (a background child may hold the pipes). */
    private static final Duration DRAIN = Duration.ofSeconds(2);

    private final ExecRunner runner;
    private final ShimClient shim;
    private final Process process;
    private final boolean tty, stdin;
    private final String containerId;
    private ExecSession session;
    private Thread outPump, errPump;

    ExecCommand(ExecRunner runner, ShimClient shim, Process process, boolean tty, boolean stdin, String containerId) {
        this.runner = runner;
        this.shim = shim;
        this.process = process;
        this.tty = tty;
        this.stdin = stdin;
        this.containerId = containerId;
    }

    @Override
    public void start(OutputSink stdout, OutputSink stderr) throws IOException {
        session = runner.start(shim, process, tty);
        if (!stdin) {
            session.process().getOutputStream().close();
        }
        outPump = Thread.ofVirtual().name("exec-out-" + containerId).start(() -> pump(session.process().getInputStream(), stdout));
        // With a tty the command's stderr is the pty; the shim's own stderr then only has its diagnostics.
        errPump = Thread.ofVirtual().name("exec-err-" + containerId).start(() -> pump(session.process().getErrorStream(),
                tty ? null : stderr));
    }

    private void pump(InputStream in, OutputSink sink) {
        byte[] buf = new byte[32 * 1024];
        boolean clientThere = sink != null;
        try (in) {
            int n;
            while ((n = in.read(buf)) > 0) {
                if (clientThere) {
                    clientThere = sink.write(buf, n);
                } else if (sink == null && tty) {
                    LOG.fine("exec in " + containerId + ": shim: " + new String(buf, 0, n).trim());
                }
            }
        } catch (IOException e) {
            // the pipe closed: the exec is over
        }
    }

    @Override
    public CommandOutcome awaitEnd() throws InterruptedException {
        CommandOutcome outcome;
        try {
            outcome = CommandOutcome.exited(session.exitCode().get());
        } catch (ExecutionException e) {
            outcome = CommandOutcome.failed(e.getCause().getMessage());
        }
        if (!outPump.join(DRAIN)) {
            closeQuietly(session.process().getInputStream());
        }
        if (!errPump.join(DRAIN)) {
            closeQuietly(session.process().getErrorStream());
        }
        outPump.join();
        errPump.join();
        return outcome;
    }

    @Override
    public void writeStdin(byte[] data) throws IOException {
        OutputStream in = session.process().getOutputStream();
        in.write(data);
        in.flush();
    }

    @Override
    public void endStdin() {
        closeQuietly(session.process().getOutputStream());
    }

    @Override
    public void resize(int width, int height) {
        if (!tty) {
            return;
        }
        // The shim opens the FIFO once the terminal exists: retry briefly for the first size.
        long deadline = System.nanoTime() + DRAIN.toNanos();
        while (!session.resize(height, width) && session.process().isAlive() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public void abandon() {
        if (session == null) {
            return;
        }
        if (tty) {
            session.process().destroy(); // the shim kills the command: a terminal hang-up
        } else {
            endStdin();
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // already closed
        }
    }
}
