package io.coracle.runtime.streaming;

import java.io.IOException;

/** A command whose stdio a streaming session carries: an exec'd process or a container attached to. */
interface StreamedCommand {
    /** Where output goes; blocks while the client is slow, false once the client is gone. */
    interface OutputSink {
        boolean write(byte[] data, int length);
    }

    /** Starts the command (or connects to it); output flows to the sinks (null: not wanted) from now on. */
    void start(OutputSink stdout, OutputSink stderr) throws IOException;

    /** Waits until the command has ended and its output is drained. */
    CommandOutcome awaitEnd() throws InterruptedException;

    void writeStdin(byte[] data) throws IOException;

    /** The client's stdin ended. */
    void endStdin();

    void resize(int width, int height);

    /** The client went away before the end. */
    void abandon();
}
