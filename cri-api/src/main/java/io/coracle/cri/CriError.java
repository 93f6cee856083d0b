package io.coracle.cri;

/**
 * The one failure type of Coracle's domain code (sandboxes, containers, images): a {@link Kind} saying
 * whose fault it is, and a message for the user. Domain code throws it; the CRI edge turns it into a
 * gRPC status in one place, {@link CriStatus}. Subclasses (e.g. the image service's) add detail, not codes.
 */
public class CriError extends RuntimeException {

    /** What went wrong, as containerd's errdefs classes; {@link CriStatus} maps each to one gRPC code. */
    public enum Kind {
        /** The request is malformed or names something the node cannot use. */
        INVALID,
        NOT_FOUND,
        /** A name or an id is already taken. */
        ALREADY_EXISTS,
        /** The object is not in the state the request needs (e.g. not running, not ready). */
        PRECONDITION,
        PERMISSION_DENIED,
        /** Temporarily out of service (shutting down, a registry unreachable). */
        UNAVAILABLE,
        /** Over a bound Coracle sets, or the node's disk is full. */
        RESOURCE_EXHAUSTED,
        DEADLINE_EXCEEDED,
        /** Content that does not match its digest. */
        DATA_LOSS,
        UNIMPLEMENTED,
        /** A failure whose cause Coracle cannot classify (e.g. a CNI plugin's or an exec's). */
        UNKNOWN,
        /** Coracle or the host failed. */
        INTERNAL
    }

    private final Kind kind;

    public CriError(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public CriError(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    public static CriError invalid(String message) {
        return new CriError(Kind.INVALID, message);
    }

    public static CriError notFound(String message) {
        return new CriError(Kind.NOT_FOUND, message);
    }

    public static CriError precondition(String message) {
        return new CriError(Kind.PRECONDITION, message);
    }

    public static CriError internal(String message, Throwable cause) {
        return new CriError(Kind.INTERNAL, message, cause);
    }
}
