package io.coracle.image;

/** The one failure type of the image service; {@link Reason} says what went wrong. */
public final class ImageException extends RuntimeException {

    /** Why an image operation failed; the CRI layer maps each reason to a gRPC status. */
    public enum Reason {
        INVALID_ARGUMENT,
        NOT_FOUND,
        UNAUTHORIZED,
        DIGEST_MISMATCH,
        UNAVAILABLE,
        HOSTILE_LAYER,
        UNSUPPORTED,
        /** A registry answer or a declared size over Coracle's bound ({@code RegistryLimits}). */
        TOO_LARGE,
        /** A registry redirected an HTTPS request to plain HTTP. */
        INSECURE_REDIRECT,
        IO
    }

    private final Reason reason;

    public ImageException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public ImageException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
