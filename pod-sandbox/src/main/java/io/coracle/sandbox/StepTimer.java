package io.coracle.sandbox;

/** Durations of the named steps of one operation, for a debug log line. */
final class StepTimer {
    private final StringBuilder steps = new StringBuilder();
    private long last = System.nanoTime();

    void mark(String step) {
        long now = System.nanoTime();
        steps.append(steps.isEmpty() ? "" : ", ").append(step).append(' ').append((now - last) / 100_000 / 10.0).append(" ms");
        last = now;
    }

    @Override
    public String toString() {
        return steps.toString();
    }
}
