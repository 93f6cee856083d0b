package io.coracle.runtime.streaming;

import java.io.IOException;

/** A port-forward connection could not be made; the message says why (for the kubectl user). */
public final class PortForwardException extends IOException {
    public PortForwardException(String message) {
        super(message);
    }

    public PortForwardException(String message, Throwable cause) {
        super(message, cause);
    }
}
