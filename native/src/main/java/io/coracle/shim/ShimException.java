package io.coracle.shim;

import java.io.IOException;

/**
 * A shim refused or failed an operation; the message is the shim's own one-line reason, and
 * {@link #errorClass()} the class the shim decided where the failure happened (never parsed from the message).
 */
public class ShimException extends IOException {

    /** Whose fault a shim failure is, as the shim reports it. */
    public enum ErrorClass {
        /** The request is at fault: the spec, an id, the command, a mount target in the image. */
        INVALID,
        /** The shim or the host failed (a syscall, a timeout, a shim gone). */
        INTERNAL
    }

    private final ErrorClass errorClass;

    public ShimException(String message) {
        this(ErrorClass.INTERNAL, message);
    }

    public ShimException(ErrorClass errorClass, String message) {
        super(message);
        this.errorClass = errorClass;
    }

    public ShimException(String message, Throwable cause) {
        super(message, cause);
        this.errorClass = ErrorClass.INTERNAL;
    }

    public ErrorClass errorClass() {
        return errorClass;
    }
}
