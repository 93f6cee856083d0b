package io.coracle.runtime.daemon;

/** The daemon cannot start: the message says why, for the operator. */
public final class DaemonStartException extends Exception {
    public DaemonStartException(String message) {
        super(message);
    }

    public DaemonStartException(String message, Throwable cause) {
        super(message, cause);
    }
}
