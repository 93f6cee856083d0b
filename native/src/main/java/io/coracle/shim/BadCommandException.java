package io.coracle.shim;

/**
 * An exec's command itself cannot be run (not found in the container, not executable, or its
 * arguments too long for execve): the caller's request is at fault, not the shim or the host.
 * The shim says so in its exit record ("badCommand"), so no message text is parsed.
 */
public class BadCommandException extends ShimException {
    public BadCommandException(String message) {
        super(message);
    }
}
