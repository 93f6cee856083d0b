package io.coracle.sandbox;

/** The CRI NetworkReady condition: status, and a CamelCase reason with a message when not ready. */
public record NetworkCondition(boolean ready, String reason, String message) {
    public static final String TYPE = "NetworkReady";
}
