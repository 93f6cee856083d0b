package io.coracle.runtime.spec;

/** A CRI container config that cannot be turned into an OCI spec; the message names the field at fault. */
public final class InvalidContainerConfigException extends Exception {
    public InvalidContainerConfigException(String message) {
        super(message);
    }

    public InvalidContainerConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
