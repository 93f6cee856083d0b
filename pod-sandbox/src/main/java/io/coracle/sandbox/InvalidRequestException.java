package io.coracle.sandbox;

/**
 * A CRI request field that is malformed: the message is "{@code <field path>: <reason>}" (like
 * containerd's). The CRI edge answers it with INVALID_ARGUMENT; nothing has been created when it is thrown.
 */
public final class InvalidRequestException extends IllegalArgumentException {
    private final String field;

    public InvalidRequestException(String field, String reason) {
        super(field + ": " + reason);
        this.field = field;
    }

    /** The field path, e.g. {@code config.linux.resources.cpuset_cpus}. */
    public String field() {
        return field;
    }
}
