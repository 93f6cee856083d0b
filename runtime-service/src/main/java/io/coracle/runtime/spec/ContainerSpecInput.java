package io.coracle.runtime.spec;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.image.content.ImageConfig;
import java.nio.file.Path;
import java.util.List;

/**
 * Everything a container's spec is built from.
 *
 * @param config     the CRI container config
 * @param image      the image's process defaults
 * @param pod        the pod it joins
 * @param lowerDirs  image layers for the overlay rootfs, top first
 * @param upperDir   the container's writable layer
 * @param workDir    overlayfs' work directory (same file system as upperDir)
 * @param cgroupsPath the container's cgroup, relative to each hierarchy's root
 * @param cgroupV2   whether the node runs pure cgroup v2
 * @param host       what the host and the pod's runtime handler can enforce (rro, AppArmor, SELinux)
 * @param refs       image volumes and the pid TARGET's namespace, resolved by the creator
 */
public record ContainerSpecInput(String containerId, ContainerConfig config, ImageConfig.Settings image, PodContext pod,
                                 List<Path> lowerDirs, Path upperDir, Path workDir, String cgroupsPath,
                                 boolean cgroupV2, HostConfinement host, ContainerReferences refs) {
    public ContainerSpecInput {
        lowerDirs = List.copyOf(lowerDirs);
        refs = refs == null ? ContainerReferences.NONE : refs;
    }

    /** A container that names no image volume and no pid TARGET. */
    public ContainerSpecInput(String containerId, ContainerConfig config, ImageConfig.Settings image, PodContext pod,
                              List<Path> lowerDirs, Path upperDir, Path workDir, String cgroupsPath,
                              boolean cgroupV2, HostConfinement host) {
        this(containerId, config, image, pod, lowerDirs, upperDir, workDir, cgroupsPath, cgroupV2, host,
                ContainerReferences.NONE);
    }

    /** On a host that offers no LSM and no recursive read-only mounts. */
    public ContainerSpecInput(String containerId, ContainerConfig config, ImageConfig.Settings image, PodContext pod,
                              List<Path> lowerDirs, Path upperDir, Path workDir, String cgroupsPath, boolean cgroupV2) {
        this(containerId, config, image, pod, lowerDirs, upperDir, workDir, cgroupsPath, cgroupV2, HostConfinement.NONE);
    }
}
