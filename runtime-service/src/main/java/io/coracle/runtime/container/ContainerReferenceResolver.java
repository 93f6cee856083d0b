package io.coracle.runtime.container;

import io.coracle.cri.CriError;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.image.ImageService;
import io.coracle.image.store.ImageRecord;
import io.coracle.runtime.spec.ContainerReferences;
import io.coracle.runtime.spec.ImageRootFiles;
import io.coracle.runtime.spec.ImageVolume;
import io.coracle.runtime.spec.InvalidContainerConfigException;
import io.coracle.sys.PrivateFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;

/**
 * Resolves what a container config names outside itself, for CreateContainer: its image volumes
 * (each image leased for the container, as {@code <id>.volume<n>}, until it is removed) and the
 * container a pid TARGET names (in the same pod and running, as containerd's validateTargetContainer).
 * Errors name the mount as containerd's do ("ImageVolumeMountFailed: ..."), which the kubelet reports.
 */
final class ContainerReferenceResolver {
    /** The prefix containerd (crierrors.ErrImageVolumeMountFailed) and the kubelet use. */
    static final String IMAGE_VOLUME_FAILED = "ImageVolumeMountFailed: ";
    private static final java.util.Set<java.nio.file.attribute.PosixFilePermission> EMPTY_MODE =
            java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x");

    private final ImageService images;
    private final ContainerStore store;

    ContainerReferenceResolver(ImageService images, ContainerStore store) {
        this.images = images;
        this.store = store;
    }

    /** The resolved references; image leases taken here are released with the container ({@code images.release(id)}). */
    ContainerReferences resolve(String id, String podId, ContainerConfig config, Path containerDir) throws IOException {
        List<ImageVolume> volumes = new ArrayList<>();
        Path empty = null;
        for (Mount m : config.getMountsList()) {
            if (!m.hasImage() || m.getImage().getImage().isEmpty()) {
                continue;
            }
            volumes.add(imageVolume(id + ".volume" + volumes.size(), m));
        }
        if (!volumes.isEmpty()) {
            empty = PrivateFiles.directory(containerDir.resolve("volume-base"), EMPTY_MODE);
        }
        Path target = null;
        String targetNs = null;
        var ns = config.getLinux().getSecurityContext().getNamespaceOptions();
        if (ns.getPid() == NamespaceMode.TARGET) {
            target = targetPidns(podId, ns.getTargetId());
            targetNs = Files.readSymbolicLink(target).toString();
        }
        return new ContainerReferences(volumes, empty, target, targetNs);
    }

    /**
     * After the shim made the process (at start): it is in the namespace the target had when it was resolved (at create) (a
     * target that exited in between, its pid taken by another process, is caught here).
     */
    static void checkJoined(String targetPidnsId, int pid) throws IOException {
        if (targetPidnsId == null) {
            return;
        }
        String joined = Files.readSymbolicLink(Path.of("/proc", Integer.toString(pid), "ns", "pid")).toString();
        if (!joined.equals(targetPidnsId)) {
            throw CriError.precondition("namespace_options.target_id: the target container exited between the"
                    + " container's create and its start (its PID namespace " + targetPidnsId + " is gone; joined "
                    + joined + ")");
        }
    }

    private ImageVolume imageVolume(String holder, Mount m) {
        String ref = m.getImage().getImage();
        String dest = m.getContainerPath();
        if (!m.getHostPath().isEmpty()) {
            throw CriError.invalid(IMAGE_VOLUME_FAILED + "mount " + dest + ": host_path must be empty for an image"
                    + " volume (image " + ref + ")");
        }
        if (!m.getReadonly()) {
            throw CriError.invalid(IMAGE_VOLUME_FAILED + "mount " + dest + ": an image volume must be readonly"
                    + " (image " + ref + ")");
        }
        ImageRecord image = images.find(ref).orElseThrow(() -> CriError.notFound(IMAGE_VOLUME_FAILED
                + "failed to resolve image \"" + ref + "\" for mount " + dest + ": not found (pull it first)"));
        List<Path> layers = images.lowerDirs(image.id());
        if (!m.getImageSubPath().isEmpty()) {
            try {
                layers = new ImageRootFiles(layers).directoryLayers(m.getImageSubPath());
            } catch (NoSuchElementException e) {
                throw CriError.notFound(IMAGE_VOLUME_FAILED + "mount " + dest + " of image " + ref + ": "
                        + e.getMessage());
            } catch (InvalidContainerConfigException e) {
                throw CriError.invalid(IMAGE_VOLUME_FAILED + "mount " + dest + " of image " + ref + ": "
                        + e.getMessage());
            }
        }
        if (layers.isEmpty()) {
            throw CriError.invalid(IMAGE_VOLUME_FAILED + "image " + ref + " has no layers to mount at " + dest);
        }
        images.hold(holder, image.id());
        return new ImageVolume(dest, image.id(), layers);
    }

    private Path targetPidns(String podId, String targetId) {
        if (targetId.isEmpty()) {
            throw CriError.invalid("namespace_options.pid is TARGET without a target_id");
        }
        ContainerRecord target = store.find(targetId).orElseThrow(() -> CriError.notFound(
                "invalid target container: container \"" + targetId + "\" does not exist"));
        if (!target.podId().equals(podId)) {
            throw CriError.invalid("invalid target container: container \"" + targetId + "\" (sandbox "
                    + target.podId() + ") does not belong to sandbox " + podId);
        }
        ContainerStates s = ContainerStates.of(target, store);
        Optional<Integer> pid = s.shim().map(x -> x.pid()).filter(p -> p > 0);
        if (s.state() != ContainerState.CONTAINER_RUNNING || pid.isEmpty()) {
            throw CriError.precondition("invalid target container: container \"" + targetId
                    + "\" is not running - in state " + s.state());
        }
        return Path.of("/proc", Integer.toString(pid.get()), "ns", "pid");
    }
}
