package io.coracle.sandbox;

import io.coracle.cgroup.Cgroups;
import io.coracle.sys.NativePrograms;
import io.coracle.sys.PauseLauncher;
import java.io.IOException;

/** What the sandbox operations share: settings, the store, CNI, cgroups, the pause launcher, the containers hook. */
final class SandboxEnvironment {
    final SandboxConfig config;
    final SandboxStore store;
    final CniConfigLoader cniConfig;
    final CniNetwork cni;
    final PodCgroup cgroups;
    final PauseLauncher pauseLauncher;
    final PodSandboxConfigValidator validator;
    volatile PodContainersHook containers = PodContainersHook.NONE;

    SandboxEnvironment(SandboxConfig config) throws IOException {
        this.config = config;
        this.store = new SandboxStore(config.rootDir());
        this.cniConfig = new CniConfigLoader(config);
        this.cni = new CniNetwork(cniConfig);
        Cgroups hierarchies = Cgroups.detect();
        this.cgroups = new PodCgroup(hierarchies, config.cgroupDriver());
        this.validator = new PodSandboxConfigValidator(config.cgroupDriver(),
                new LinuxResourcesValidator(HostResources.read(), hierarchies.v2()));
        if (!config.pauseBinary().getFileName().toString().equals(NativePrograms.PAUSE)) {
            throw new IOException("pause binary must be named " + NativePrograms.PAUSE + ": " + config.pauseBinary());
        }
        this.pauseLauncher = new PauseLauncher(new NativePrograms(config.pauseBinary().getParent()));
    }

    static String shortId(String id) {
        return id.length() > 13 ? id.substring(0, 13) : id;
    }

    static String podName(Sandbox s) {
        return shortId(s.id()) + " " + s.namespace() + "/" + s.name();
    }
}
