package io.coracle.runtime.daemon.http2;

/** A malformed header block: the connection must end with COMPRESSION_ERROR. */
public final class HpackException extends Exception {
    private static final long serialVersionUID = 1L;

    HpackException(String message) {
        super(message, null, false, false);
    }
}
