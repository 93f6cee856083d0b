package io.coracle.shim;

/** A shim did not answer within the caller's deadline. */
public class ShimTimeoutException extends ShimException {
    public ShimTimeoutException(String message) {
        super(message);
    }
}
