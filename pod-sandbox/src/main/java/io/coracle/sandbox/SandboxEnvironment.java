package io.coracle.sandbox;

import io.coracle.cgroup.CgroupCreator;
import io.coracle.cgroup.Cgroups;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.PodSandboxStatus;
import io.coracle.sys.NativePrograms;
import io.coracle.sys.PauseLauncher;
import java.io.IOException;
import java.util.logging.Logger;

/**
 * What the sandbox operations share: settings, the store, CNI, cgroups, the pause launcher, the
 * containers hook and the event listener.
 */
final class SandboxEnvironment {
    private static final Logger LOG = Logger.getLogger(SandboxEnvironment.class.getName());

    final SandboxConfig config;
    final SandboxStore store;
    final CniConfigLoader cniConfig;
    final CniNetwork cni;
    final PodCgroup cgroups;
    final PauseLauncher pauseLauncher;
    final PodSandboxConfigValidator validator;
    final PodContainersHook containers;
    final SandboxEventListener events;

    SandboxEnvironment(SandboxConfig config, PodContainersHook containers, SandboxEventListener events,
                       io.coracle.cgroup.systemd.SystemdUnits systemd) throws IOException {
        this.config = config;
        this.containers = containers;
        this.events = events;
        this.store = new SandboxStore(config.rootDir());
        this.cniConfig = new CniConfigLoader(config);
        this.cni = new CniNetwork(cniConfig);
        if (!config.pauseBinary().getFileName().toString().equals(NativePrograms.PAUSE)) {
            throw new IOException("pause binary must be named " + NativePrograms.PAUSE + ": " + config.pauseBinary());
        }
        NativePrograms programs = new NativePrograms(config.pauseBinary().getParent());
        Cgroups hierarchies = Cgroups.detect();
        this.cgroups = new PodCgroup(hierarchies, new CgroupCreator(programs), config.cgroupDriver(), systemd);
        this.validator = new PodSandboxConfigValidator(config.cgroupDriver(),
                new LinuxResourcesValidator(HostResources.read(), hierarchies.v2()));
        this.pauseLauncher = new PauseLauncher(programs);
    }

    /** Tells the listener; a failing listener never fails the sandbox operation. */
    void announce(ContainerEventType type, PodSandboxStatus status) {
        try {
            events.sandboxChanged(type, status);
        } catch (RuntimeException e) {
            LOG.warning("sandbox " + shortId(status.getId()) + ": event " + type + " not published: " + e);
        }
    }

    static String shortId(String id) {
        return id.length() > 13 ? id.substring(0, 13) : id;
    }

    static String podName(Sandbox s) {
        return shortId(s.id()) + " " + s.namespace() + "/" + s.name();
    }
}
