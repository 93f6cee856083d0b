package io.coracle.image;

import io.coracle.cri.CriError;

/**
 * The image service's kind of {@link CriError}: its {@link Reason} says what went wrong in image terms,
 * and fixes the error's {@link CriError.Kind} (so the one CRI mapping answers it).
 */
public final class ImageException extends CriError {

    /** Why an image operation failed; {@link #kindOf} says which CRI error kind each is. */
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
        /** The signature policy's scope covers the image and no valid signature by its keys was found. */
        SIGNATURE_REFUSED,
        IO
    }

    private final Reason reason;

    public ImageException(Reason reason, String message) {
        super(kindOf(reason), message);
        this.reason = reason;
    }

    public ImageException(Reason reason, String message, Throwable cause) {
        super(kindOf(reason), message, cause);
        this.reason = reason;
    }

    static Kind kindOf(Reason reason) {
        return switch (reason) {
            case INVALID_ARGUMENT -> Kind.INVALID;
            case NOT_FOUND -> Kind.NOT_FOUND;
            case UNAUTHORIZED -> Kind.PERMISSION_DENIED;
            case DIGEST_MISMATCH -> Kind.DATA_LOSS;
            case UNAVAILABLE -> Kind.UNAVAILABLE;
            case HOSTILE_LAYER, INSECURE_REDIRECT, SIGNATURE_REFUSED -> Kind.PRECONDITION;
            case UNSUPPORTED -> Kind.UNIMPLEMENTED;
            case TOO_LARGE -> Kind.RESOURCE_EXHAUSTED;
            case IO -> Kind.INTERNAL;
        };
    }

    public Reason reason() {
        return reason;
    }
}
