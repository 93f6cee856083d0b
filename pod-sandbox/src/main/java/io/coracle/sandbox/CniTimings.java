package io.coracle.sandbox;

import java.time.Duration;

/** Told how long each CNI ADD and DEL of a pod took (all plugins of the network list, and loopback on ADD). */
@FunctionalInterface
public interface CniTimings {
    CniTimings NONE = (op, took, ok) -> { };

    /** {@code op} is "ADD" or "DEL"; {@code ok} is false when a plugin failed. Must not block. */
    void observe(String op, Duration took, boolean ok);
}
