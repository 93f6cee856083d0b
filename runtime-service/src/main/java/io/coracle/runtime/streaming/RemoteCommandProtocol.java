package io.coracle.runtime.streaming;

import java.util.List;

/**
 * The remote command (exec, attach) subprotocols the kubelet's clients negotiate: what the error
 * stream carries (a JSON status from v4 on) and whether there is a resize stream (v3 on). Over
 * WebSocket, the base64 variants carry channels as text, and v5 adds a close signal.
 */
enum RemoteCommandProtocol {
    V1("channel.k8s.io", 1, false),
    V2("v2.channel.k8s.io", 2, false),
    V3("v3.channel.k8s.io", 3, false),
    V4("v4.channel.k8s.io", 4, false),
    WS_V1_BASE64("base64.channel.k8s.io", 1, true),
    WS_V4_BASE64("v4.base64.channel.k8s.io", 4, true),
    WS_V5("v5.channel.k8s.io", 5, false);

    /** Over SPDY, in the server's order of preference (the client's order decides). */
    static final List<RemoteCommandProtocol> SPDY = List.of(V4, V3, V2, V1);
    /** Over WebSocket. */
    static final List<RemoteCommandProtocol> WEBSOCKET = List.of(WS_V5, V4, WS_V4_BASE64, V1, WS_V1_BASE64);

    final String id;
    final int version;
    final boolean base64;

    RemoteCommandProtocol(String id, int version, boolean base64) {
        this.id = id;
        this.version = version;
        this.base64 = base64;
    }

    boolean jsonStatus() {
        return version >= 4;
    }

    boolean resizes() {
        return version >= 3;
    }

    /** The first protocol the client offers that {@code supported} has; null when none. */
    static RemoteCommandProtocol negotiate(List<String> offered, List<RemoteCommandProtocol> supported) {
        for (String o : offered) {
            for (RemoteCommandProtocol p : supported) {
                if (p.id.equals(o.trim())) {
                    return p;
                }
            }
        }
        return null;
    }
}
