package io.coracle.shim;

/** The outcome of an exec: exit code (128+signal when killed), output, and whether the timeout hit. */
public record ExecResult(int exitCode, byte[] stdout, byte[] stderr, boolean timedOut) {}
