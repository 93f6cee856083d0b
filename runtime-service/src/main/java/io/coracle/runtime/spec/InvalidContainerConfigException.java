package io.coracle.runtime.spec;

import io.coracle.cri.CriError;

/** A CRI container config that cannot be turned into an OCI spec: a {@link CriError} of kind INVALID naming the field. */
public final class InvalidContainerConfigException extends CriError {
    public InvalidContainerConfigException(String message) {
        super(Kind.INVALID, message);
    }

    public InvalidContainerConfigException(String message, Throwable cause) {
        super(Kind.INVALID, message, cause);
    }
}
