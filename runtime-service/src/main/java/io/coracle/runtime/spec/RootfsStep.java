package io.coracle.runtime.spec;

import io.coracle.oci.Spec;
import java.nio.file.Path;
import java.util.stream.Collectors;

/**
 * The rootfs: an overlay of the image layers and the container's writable layer, which the shim
 * mounts inside the container's own mount namespace; plus the annotations that identify the container.
 */
public final class RootfsStep implements SpecStep {

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        if (in.lowerDirs().isEmpty()) {
            throw new InvalidContainerConfigException("image " + in.config().getImage().getImage() + " has no layers");
        }
        spec.rootPath = "rootfs";
        spec.annotations.putAll(in.config().getAnnotationsMap());
        spec.annotations.put(Spec.OVERLAY_LOWERDIRS,
                in.lowerDirs().stream().map(Path::toString).collect(Collectors.joining(":")));
        spec.annotations.put(Spec.OVERLAY_UPPERDIR, in.upperDir().toString());
        spec.annotations.put(Spec.OVERLAY_WORKDIR, in.workDir().toString());
        spec.annotations.put("io.kubernetes.cri.container-type", "container");
        spec.annotations.put("io.kubernetes.cri.sandbox-id", in.pod().podId());
        spec.annotations.put("io.kubernetes.cri.container-name", in.config().getMetadata().getName());
        spec.annotations.put("io.kubernetes.cri.image-name", in.config().getImage().getImage());
    }
}
