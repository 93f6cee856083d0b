package io.coracle.shim;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/** {@code <state>/state.json} as the shim last wrote it: container PID, the shim's own PID, status. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ShimStateFile(int pid, int shimPid, String status, String bundle, long createdAt, long startedAt) {}
