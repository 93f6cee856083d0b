package io.coracle.shim;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/**
 * How a container ended, as the shim wrote it to {@code <state>/exit.json}. exitCode is
 * 128+signal for a signal death; times are nanoseconds since the epoch (startedAt 0: never started).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ExitRecord(int pid, int exitCode, int signal, boolean oomKilled, long createdAt, long startedAt,
                         long finishedAt) {}
