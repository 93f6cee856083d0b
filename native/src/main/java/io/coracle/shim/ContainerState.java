package io.coracle.shim;

/** What a shim says about its container: status is created, running or stopped. */
public record ContainerState(String status, int pid) {
    public boolean running() {
        return "running".equals(status);
    }
}
