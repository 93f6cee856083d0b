package io.coracle.shim;

import java.io.IOException;

/** A shim refused or failed an operation; the message is the shim's own one-line reason. */
public class ShimException extends IOException {
    public ShimException(String message) {
        super(message);
    }

    public ShimException(String message, Throwable cause) {
        super(message, cause);
    }
}
