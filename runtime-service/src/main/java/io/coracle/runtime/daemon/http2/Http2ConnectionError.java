package io.coracle.runtime.daemon.http2;

/** A connection error (RFC 9113 5.4.1): the connection ends with a GOAWAY carrying {@code code}. */
final class Http2ConnectionError extends Exception {
    final int code;

    Http2ConnectionError(int code, String message) {
        super(message, null, false, false);
        this.code = code;
    }
}
