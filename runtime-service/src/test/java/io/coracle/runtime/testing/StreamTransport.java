package io.coracle.runtime.testing;

/** How a streaming client reaches the server: an HTTP/1.1 upgrade to SPDY/3.1 or to WebSocket. */
public enum StreamTransport {
    SPDY,
    WEBSOCKET
}
