package io.coracle.runtime.daemon.http2;

/** One header field; names are lowercase ASCII; values carry bytes as ISO-8859-1 chars (byte-preserving). */
public record HeaderField(String name, String value) {

    /** The HPACK size of this field (RFC 7541 4.1), also the RFC 7540 6.5.2 header list size contribution. */
    int hpackSize() {
        return name.length() + value.length() + 32;
    }
}
