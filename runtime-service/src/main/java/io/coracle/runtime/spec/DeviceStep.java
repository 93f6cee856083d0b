package io.coracle.runtime.spec;

import io.coracle.cri.v1.Device;
import io.coracle.oci.Linux;
import io.coracle.oci.Resources;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Devices: the cgroup device rules (deny all, then the defaults a container needs, or allow all
 * when privileged) and the CRI devices, created in the container's /dev from the host's nodes.
 * A privileged container gets every device node of the host's /dev as well (as containerd's
 * WithHostDevices), made in its own /dev tmpfs: the host's /dev itself is never mounted into it,
 * so nothing a container does in its /dev reaches the host's.
 */
public final class DeviceStep implements SpecStep {
    /**
     * The same list on cgroup v1 and v2 (v1 devices files, v2 the shim's eBPF program): everything
     * denied, then mknod of any node (not its use: a node made in the container still cannot be
     * opened), null, zero, full, random, urandom, tty, console, ptmx, the pty slaves and tun. This
     * is what a container gets under containerd with runc (containerd's deny-all plus the list runc
     * appends to every spec); a CRI device adds its own rule, privileged allows everything.
     */
    static final List<Resources.DeviceRule> DEFAULT_RULES = List.of(
            new Resources.DeviceRule(false, "a", null, null, "rwm"),
            new Resources.DeviceRule(true, "c", null, null, "m"),
            new Resources.DeviceRule(true, "b", null, null, "m"),
            new Resources.DeviceRule(true, "c", 1L, 3L, "rwm"),
            new Resources.DeviceRule(true, "c", 1L, 5L, "rwm"),
            new Resources.DeviceRule(true, "c", 1L, 7L, "rwm"),
            new Resources.DeviceRule(true, "c", 1L, 8L, "rwm"),
            new Resources.DeviceRule(true, "c", 1L, 9L, "rwm"),
            new Resources.DeviceRule(true, "c", 5L, 0L, "rwm"),
            new Resources.DeviceRule(true, "c", 5L, 1L, "rwm"),
            new Resources.DeviceRule(true, "c", 5L, 2L, "rwm"),
            new Resources.DeviceRule(true, "c", 136L, null, "rwm"),
            new Resources.DeviceRule(true, "c", 10L, 200L, "rwm"));

    /** What a privileged container does not take from the host's /dev: other file systems' trees, the host's console. */
    static final Set<String> HOST_DEV_SKIPPED = Set.of("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev",
            "console");
    /** Bounds of the walk of the host's /dev. */
    static final int MAX_HOST_DEVICES = 8192, MAX_HOST_DEV_DEPTH = 8;

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        if (in.config().getLinux().getSecurityContext().getPrivileged()) {
            spec.deviceRules.add(new Resources.DeviceRule(true, "a", null, null, "rwm"));
            spec.devices.addAll(hostDevices(Path.of("/dev")));
        } else {
            spec.deviceRules.addAll(DEFAULT_RULES);
        }
        for (Device d : in.config().getDevicesList()) {
            String perms = d.getPermissions().isEmpty() ? "rwm" : d.getPermissions();
            // permissions and container_path are checked at the CRI edge (CriRequestValidator)
            Linux.Device dev;
            try {
                dev = describe(Path.of(d.getHostPath()), d.getContainerPath());
            } catch (IOException e) {
                throw new InvalidContainerConfigException("devices: host_path '" + d.getHostPath() + "' does not exist");
            }
            if (dev == null) {
                throw new InvalidContainerConfigException("devices: host_path '" + d.getHostPath() + "' is not a device node");
            }
            spec.devices.removeIf(existing -> existing.path().equals(dev.path()));
            spec.devices.add(dev);
            try {
                spec.deviceRules.add(new Resources.DeviceRule(true, dev.type(), dev.major(), dev.minor(), perms));
            } catch (IllegalArgumentException e) {
                throw new InvalidContainerConfigException("devices: " + d.getHostPath() + ": " + e.getMessage());
            }
        }
    }

    /** The device node at host (never through a symlink) as it is to appear at containerPath; null when not a device. */
    public static Linux.Device describe(Path host, String containerPath) throws IOException {
        int fileMode = (Integer) Files.getAttribute(host, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        String type = switch (fileMode & 0170000) {
            case 0020000 -> "c";
            case 0060000 -> "b";
            default -> null;
        };
        if (type == null) {
            return null;
        }
        long dev = (Long) Files.getAttribute(host, "unix:rdev", LinkOption.NOFOLLOW_LINKS);
        long major = (dev >>> 8) & 0xfff | ((dev >>> 32) & ~0xfffL);
        long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
        Integer uid = (Integer) Files.getAttribute(host, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        Integer gid = (Integer) Files.getAttribute(host, "unix:gid", LinkOption.NOFOLLOW_LINKS);
        return new Linux.Device(containerPath, type, major, minor, fileMode & 07777, uid.longValue(), gid.longValue());
    }

    /** Every device node under the host's dev directory, by the same path in the container; symlinks are not followed. */
    static List<Linux.Device> hostDevices(Path dev) throws InvalidContainerConfigException {
        List<Linux.Device> out = new ArrayList<>();
        try {
            walk(dev, "/dev", 0, out);
        } catch (IOException e) {
            throw new InvalidContainerConfigException("privileged: cannot list the host's devices in " + dev + ": " + e, e);
        }
        return out;
    }

    private static void walk(Path dir, String containerDir, int depth, List<Linux.Device> out) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                String name = p.getFileName().toString();
                if (HOST_DEV_SKIPPED.contains(name) && depth == 0 || out.size() >= MAX_HOST_DEVICES) {
                    continue;
                }
                String target = containerDir + "/" + name;
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    if (depth + 1 < MAX_HOST_DEV_DEPTH) {
                        walk(p, target, depth + 1, out);
                    }
                    continue;
                }
                try {
                    Linux.Device d = describe(p, target);
                    if (d != null) {
                        out.add(d);
                    }
                } catch (java.nio.file.NoSuchFileException gone) {
                    // removed meanwhile (hotplug)
                }
            }
        }
    }
}
