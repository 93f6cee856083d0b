package io.coracle.shim;

/** No shim listens on the control socket any more (it exited with its container, or died). */
public class ShimGoneException extends ShimException {
    public ShimGoneException(String message, Throwable cause) {
        super(message, cause);
    }
}
