package io.coracle.oci;

/** The spec's {@code root}: the rootfs mount point, relative to the bundle or absolute. */
public record Root(String path, boolean readonly) {}
