package io.coracle.runtime.testing;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * The streaming server answered an upgrade request (SPDY/3.1 or WebSocket) with something other than
 * 101 Switching Protocols: e.g. 404 for an unknown or used-up token, 403 when no stream protocol
 * version is shared (the server then lists its own in {@code X-Accepted-Stream-Protocol-Versions}).
 */
public final class UpgradeRefusedException extends IOException {
    private final int statusCode;
    private final String body;
    private final Map<String, List<String>> headers;

    UpgradeRefusedException(String url, int statusCode, String reason, String body, Map<String, List<String>> headers) {
        super("upgrade of " + url + " refused: " + statusCode + " " + reason
                + (body.isBlank() ? "" : ": " + body.strip()));
        this.statusCode = statusCode;
        this.body = body;
        this.headers = headers;
    }

    public int statusCode() {
        return statusCode;
    }

    public String body() {
        return body;
    }

    /** Response headers, names lower-cased. */
    public Map<String, List<String>> headers() {
        return headers;
    }
}
