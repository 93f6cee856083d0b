package io.coracle.runtime.spec;

import io.coracle.cri.v1.Mount;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The container's file systems: /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and the cgroup
 * tree; the pod's resolv.conf, hosts and hostname; then the CRI mounts (host paths bound with
 * their read-only flag and propagation).
 *
 * <p>Read-only: {@code readonly} alone makes the bind itself read-only, not the mounts below its
 * host path (a tmpfs mounted inside it stays writable), as containerd 2.x and the kubelet's
 * {@code recursiveReadOnly: Disabled} default mean it; {@code recursive_read_only} makes every
 * submount read-only too ({@code rro}: mount_setattr with AT_RECURSIVE), and needs
 * {@code readonly} and private propagation, as in containerd 2.x, and a handler that supports it
 * ({@code Status} says which do).
 *
 * <p>Image volumes (a mount with {@code image} set) are the image's layers, resolved by the creator
 * ({@link ImageVolume}), overlaid read-only. In a user-namespaced pod the shim overlays idmapped copies of
 * those layers, as it does for the rootfs, so the image's root-owned files are root's in the pod.
 */
public final class MountStep implements SpecStep {

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        boolean privileged = in.config().getLinux().getSecurityContext().getPrivileged();
        List<io.coracle.oci.Mount> m = new ArrayList<>();
        m.add(mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"));
        m.add(mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"));
        m.add(mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"));
        if (in.pod().shm() != null) {
            m.add(mount("/dev/shm", "bind", in.pod().shm().toString(), "rbind", "nosuid", "noexec", "nodev"));
        } else {
            m.add(mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"));
        }
        m.add(mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"));
        m.add(mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", privileged ? "rw" : "ro"));
        if (in.cgroupV2()) {
            m.add(mount("/sys/fs/cgroup", "cgroup2", "cgroup", "nosuid", "noexec", "nodev", "relatime",
                    privileged ? "rw" : "ro"));
        }
        // On cgroup v1 the container gets no cgroup tree: exposing the host's hierarchies is worse than none.
        addPodFile(m, "/etc/resolv.conf", in.pod().resolvConf());
        addPodFile(m, "/etc/hosts", in.pod().hosts());
        addPodFile(m, "/etc/hostname", in.pod().hostnameFile());

        for (Mount cri : in.config().getMountsList()) {
            String dest = cri.getContainerPath(); // absolute, without '..': checked at the CRI edge
            if (cri.hasImage() && !cri.getImage().getImage().isEmpty()) {
                m.removeIf(existing -> existing.destination().equals(dest));
                m.add(imageVolume(in.refs(), dest));
                continue;
            }
            if (cri.getHostPath().isEmpty()) {
                throw new InvalidContainerConfigException("mounts: " + dest + " has no host_path");
            }
            Path host;
            try {
                // The mount binds what the path resolves to now; resolving here makes that explicit.
                host = Path.of(cri.getHostPath()).toRealPath();
            } catch (IOException e) {
                throw new InvalidContainerConfigException("mounts: host_path '" + cri.getHostPath() + "' for "
                        + dest + " does not exist");
            }
            List<String> options = new ArrayList<>(List.of("rbind"));
            options.add(cri.getReadonly() ? "ro" : "rw");
            if (cri.getRecursiveReadOnly()) {
                checkRecursiveReadOnly(cri, in.host());
                options.add("rro");
            }
            options.add(switch (cri.getPropagation()) {
                case PROPAGATION_HOST_TO_CONTAINER -> "rslave";
                case PROPAGATION_BIDIRECTIONAL -> "rshared";
                default -> "rprivate";
            });
            // A volume's propagation needs the tree it is bound from to propagate as well.
            if (cri.getPropagation() == io.coracle.cri.v1.MountPropagation.PROPAGATION_BIDIRECTIONAL) {
                spec.rootfsPropagation = "rshared";
            } else if (cri.getPropagation() == io.coracle.cri.v1.MountPropagation.PROPAGATION_HOST_TO_CONTAINER
                    && !"rshared".equals(spec.rootfsPropagation)) {
                spec.rootfsPropagation = "rslave";
            }
            m.removeIf(existing -> existing.destination().equals(dest));
            m.add(new io.coracle.oci.Mount(dest, "bind", host.toString(), options));
        }
        spec.mounts = m;
    }

    /**
     * An image volume: its layers overlaid without an upper layer (read-only by construction, so not
     * even a container with CAP_SYS_ADMIN writes to the shared layers), nodev. A one-layer image gets the
     * empty directory below it, as overlayfs needs two lower layers without an upper one.
     */
    private static io.coracle.oci.Mount imageVolume(ContainerReferences refs, String dest)
            throws InvalidContainerConfigException {
        ImageVolume v = refs.imageVolumes().stream().filter(iv -> iv.containerPath().equals(dest)).findFirst()
                .orElseThrow(() -> new InvalidContainerConfigException("mounts: the image volume at " + dest
                        + " was not resolved"));
        List<String> layers = new ArrayList<>(v.layers().stream().map(Path::toString).toList());
        if (layers.size() == 1) {
            layers.add(refs.emptyLayer().toString());
        }
        for (String layer : layers) {
            // Overlay's option syntax: a ',' or ':' (or its escape '\\') in a path would change its meaning.
            if (layer.chars().anyMatch(c -> c == ',' || c == ':' || c == '\\' || c == '=' || c < 0x20 || c == 0x7f)) {
                throw new InvalidContainerConfigException("mounts: image volume at " + dest + ": the layer path '"
                        + layer + "' holds a character overlayfs options cannot carry (',', ':', '\\', '=')");
            }
        }
        return new io.coracle.oci.Mount(dest, "overlay", "overlay",
                List.of("ro", "nodev", "lowerdir=" + String.join(":", layers)));
    }

    private static void checkRecursiveReadOnly(Mount cri, HostConfinement host) throws InvalidContainerConfigException {
        String dest = cri.getContainerPath();
        if (!cri.getReadonly()) {
            throw new InvalidContainerConfigException("mounts: " + dest
                    + ": recursive_read_only needs readonly: true");
        }
        if (cri.getPropagation() != io.coracle.cri.v1.MountPropagation.PROPAGATION_PRIVATE) {
            throw new InvalidContainerConfigException("mounts: " + dest + ": recursive_read_only needs private propagation, not "
                    + cri.getPropagation() + " (a mount propagated in later would not be read-only)");
        }
        if (!host.recursiveReadOnly()) {
            throw new InvalidContainerConfigException("mounts: " + dest + ": recursive_read_only is not supported by this "
                    + "runtime handler on this kernel (needs mount_setattr, Linux 5.12)");
        }
    }

    private static void addPodFile(List<io.coracle.oci.Mount> m, String dest, Path file) {
        if (file != null) {
            m.add(new io.coracle.oci.Mount(dest, "bind", file.toString(), List.of("rbind", "rprivate", "rw")));
        }
    }

    private static io.coracle.oci.Mount mount(String dest, String type, String source, String... options) {
        return new io.coracle.oci.Mount(dest, type, source, List.of(options));
    }
}
