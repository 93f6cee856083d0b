package io.coracle.sandbox;

import io.coracle.cri.CriError;

/**
 * A CRI request field that is malformed: the message is "{@code <field path>: <reason>}" (like
 * containerd's). A {@link CriError} of kind INVALID; nothing has been created when it is thrown.
 */
public final class InvalidRequestException extends CriError {
    private final String field;

    public InvalidRequestException(String field, String reason) {
        super(Kind.INVALID, field + ": " + reason);
        this.field = field;
    }

    /** The field path, e.g. {@code config.linux.resources.cpuset_cpus}. */
    public String field() {
        return field;
    }
}
