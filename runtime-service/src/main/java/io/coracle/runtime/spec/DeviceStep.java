package io.coracle.runtime.spec;

import io.coracle.cri.v1.Device;
import io.coracle.oci.Linux;
import io.coracle.oci.Resources;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;

/**
 * Devices: the cgroup device rules (deny all, then the defaults a container needs, or allow all
 * when privileged) and the CRI devices, created in the container's /dev from the host's nodes.
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

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        if (in.config().getLinux().getSecurityContext().getPrivileged()) {
            spec.deviceRules.add(new Resources.DeviceRule(true, "a", null, null, "rwm"));
        } else {
            spec.deviceRules.addAll(DEFAULT_RULES);
        }
        for (Device d : in.config().getDevicesList()) {
            Path host = Path.of(d.getHostPath());
            String perms = d.getPermissions().isEmpty() ? "rwm" : d.getPermissions();
            // permissions and container_path are checked at the CRI edge (CriRequestValidator)
            try {
                Object rdev = Files.getAttribute(host, "unix:rdev");
                Object mode = Files.getAttribute(host, "unix:mode");
                int fileMode = (Integer) mode;
                String type = switch (fileMode & 0170000) {
                    case 0020000 -> "c";
                    case 0060000 -> "b";
                    default -> throw new InvalidContainerConfigException("devices: host_path '" + d.getHostPath()
                            + "' is not a device node");
                };
                long dev = (Long) rdev;
                long major = (dev >>> 8) & 0xfff | ((dev >>> 32) & ~0xfffL);
                long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
                Integer uid = (Integer) Files.getAttribute(host, "unix:uid", LinkOption.NOFOLLOW_LINKS);
                Integer gid = (Integer) Files.getAttribute(host, "unix:gid", LinkOption.NOFOLLOW_LINKS);
                spec.devices.add(new Linux.Device(d.getContainerPath(), type, major, minor, fileMode & 07777,
                        uid.longValue(), gid.longValue()));
                spec.deviceRules.add(new Resources.DeviceRule(true, type, major, minor, perms));
            } catch (IllegalArgumentException e) {
                throw new InvalidContainerConfigException("devices: " + d.getHostPath() + ": " + e.getMessage());
            } catch (IOException e) {
                throw new InvalidContainerConfigException("devices: host_path '" + d.getHostPath() + "' does not exist");
            }
        }
    }
}
