package io.coracle.runtime.cri;

import static io.coracle.sandbox.RequestChecks.invalid;
import static io.coracle.sandbox.RequestChecks.show;

import io.coracle.cri.v1.AttachRequest;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.Device;
import io.coracle.cri.v1.ExecRequest;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.KeyValue;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.PortForwardRequest;
import io.coracle.cri.v1.Signal;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.cri.v1.UpdateRuntimeConfigRequest;
import io.coracle.sandbox.LinuxResourcesValidator;
import io.coracle.sandbox.RequestChecks;
import java.util.List;

/**
 * The shape of every container-side CRI request (containers, exec, attach, port-forward, runtime
 * config), checked before any state is created. An {@link io.coracle.sandbox.InvalidRequestException}
 * names the field path ("config.mounts[0].container_path: ..."), which the edge answers with
 * INVALID_ARGUMENT. RunPodSandbox is checked by pod-sandbox's {@code PodSandboxConfigValidator};
 * what depends on the host's state (a host path that must exist, an image, a pod) is checked
 * where it is used.
 */
public record CriRequestValidator(LinuxResourcesValidator resources) {
    /** An image reference or id: a registry path is far shorter. */
    static final int IMAGE_MAX = 4096;

    /** A container or pod id (or unique prefix) in the named field. */
    public void id(String field, String id) {
        RequestChecks.id(field, id);
    }

    public void createContainer(CreateContainerRequest r) {
        RequestChecks.id("pod_sandbox_id", r.getPodSandboxId());
        if (!r.hasConfig()) {
            throw invalid("config", "missing");
        }
        ContainerConfig c = r.getConfig();
        if (!c.hasMetadata()) {
            throw invalid("config.metadata", "missing");
        }
        RequestChecks.name("config.metadata.name", c.getMetadata().getName());
        if (c.getMetadata().getAttempt() < 0) {
            throw invalid("config.metadata.attempt", c.getMetadata().getAttempt() + " is negative");
        }
        String image = c.getImage().getImage();
        RequestChecks.notEmpty("config.image.image", image);
        RequestChecks.maxBytes("config.image.image", image, IMAGE_MAX);
        if (image.chars().anyMatch(ch -> ch <= 0x20 || ch == 0x7f)) {
            throw invalid("config.image.image", show(image) + " holds spaces or control characters");
        }
        long total = RequestChecks.argv("config.command", c.getCommandList())
                + RequestChecks.argv("config.args", c.getArgsList());
        for (int i = 0; i < c.getEnvsCount(); i++) {
            KeyValue kv = c.getEnvs(i);
            String f = "config.envs[" + i + "]";
            RequestChecks.notEmpty(f + ".key", kv.getKey());
            if (kv.getKey().indexOf('=') >= 0 || kv.getKey().indexOf('\0') >= 0) {
                throw invalid(f + ".key", show(kv.getKey()) + " holds '=' or NUL");
            }
            total += RequestChecks.arg(f, kv.getKey() + "=" + kv.getValue().toStringUtf8());
        }
        RequestChecks.argsTotal("config.command", total);
        if (!c.getWorkingDir().isEmpty()) {
            RequestChecks.absolutePath("config.working_dir", c.getWorkingDir());
        }
        for (int i = 0; i < c.getMountsCount(); i++) {
            mount("config.mounts[" + i + "]", c.getMounts(i));
        }
        for (int i = 0; i < c.getDevicesCount(); i++) {
            device("config.devices[" + i + "]", c.getDevices(i));
        }
        RequestChecks.stringMap("config.labels", c.getLabelsMap());
        RequestChecks.stringMap("config.annotations", c.getAnnotationsMap());
        if (!c.getLogPath().isEmpty()) {
            RequestChecks.relativePath("config.log_path", c.getLogPath());
        }
        if (c.getStopSignal() == Signal.UNRECOGNIZED) {
            throw invalid("config.stop_signal", c.getStopSignalValue() + " is not a known signal");
        }
        if (c.getLinux().hasResources()) {
            resources.check("config.linux.resources", c.getLinux().getResources());
        }
    }

    private static void mount(String f, Mount m) {
        RequestChecks.absolutePath(f + ".container_path", m.getContainerPath());
        if (!(m.hasImage() && !m.getImage().getImage().isEmpty())) {
            RequestChecks.absolutePath(f + ".host_path", m.getHostPath());
        } else {
            // An image volume: its sub path is resolved in the image by the creator (which refuses escapes).
            RequestChecks.maxBytes(f + ".image.image", m.getImage().getImage(), IMAGE_MAX);
            RequestChecks.maxBytes(f + ".image_sub_path", m.getImageSubPath(), IMAGE_MAX);
            if (m.getImageSubPath().chars().anyMatch(ch -> ch < 0x20 || ch == 0x7f)) {
                throw invalid(f + ".image_sub_path", show(m.getImageSubPath()) + " holds control characters");
            }
        }
        if (m.getPropagation() == io.coracle.cri.v1.MountPropagation.UNRECOGNIZED) {
            throw invalid(f + ".propagation", m.getPropagationValue() + " is not a known propagation");
        }
    }

    private static void device(String f, Device d) {
        RequestChecks.absolutePath(f + ".container_path", d.getContainerPath());
        if (!d.getContainerPath().startsWith("/dev/")) {
            throw invalid(f + ".container_path", show(d.getContainerPath()) + " is not under /dev");
        }
        RequestChecks.absolutePath(f + ".host_path", d.getHostPath());
        if (!d.getPermissions().isEmpty() && !d.getPermissions().matches("[rwm]{1,3}")) {
            throw invalid(f + ".permissions", show(d.getPermissions()) + " is not made of r, w and m");
        }
    }

    public void updateContainerResources(UpdateContainerResourcesRequest r) {
        RequestChecks.id("container_id", r.getContainerId());
        resources.check("linux", r.getLinux());
        RequestChecks.stringMap("annotations", r.getAnnotationsMap());
    }

    public void stopContainer(String containerId, long timeout) {
        RequestChecks.id("container_id", containerId);
        if (timeout < 0) {
            throw invalid("timeout", timeout + " is negative");
        }
    }

    public void execSync(ExecSyncRequest r) {
        RequestChecks.id("container_id", r.getContainerId());
        command("cmd", r.getCmdList());
        if (r.getTimeout() < 0) {
            throw invalid("timeout", r.getTimeout() + " is negative");
        }
    }

    public void exec(ExecRequest r) {
        RequestChecks.id("container_id", r.getContainerId());
        command("cmd", r.getCmdList());
        streams(r.getStdin(), r.getStdout(), r.getStderr(), r.getTty());
    }

    public void attach(AttachRequest r) {
        RequestChecks.id("container_id", r.getContainerId());
        streams(r.getStdin(), r.getStdout(), r.getStderr(), r.getTty());
    }

    public void portForward(PortForwardRequest r) {
        RequestChecks.id("pod_sandbox_id", r.getPodSandboxId());
        for (int i = 0; i < r.getPortCount(); i++) {
            if (r.getPort(i) < 1 || r.getPort(i) > 65535) {
                throw invalid("port[" + i + "]", r.getPort(i) + " is outside 1..65535");
            }
        }
    }

    /** The kubelet's pod CIDRs, comma-separated: each an IPv4 or IPv6 network. */
    public void updateRuntimeConfig(UpdateRuntimeConfigRequest r) {
        String cidrs = r.getRuntimeConfig().getNetworkConfig().getPodCidr();
        if (cidrs.isEmpty()) {
            return;
        }
        RequestChecks.maxBytes("runtime_config.network_config.pod_cidr", cidrs, 1024);
        for (String cidr : cidrs.split(",", -1)) {
            String c = cidr.trim();
            int slash = c.indexOf('/');
            boolean ok = slash > 0 && c.substring(slash + 1).matches("\\d{1,3}")
                    && io.coracle.sandbox.PodSandboxConfigValidator.ipLiteral(c.substring(0, slash))
                    && Integer.parseInt(c.substring(slash + 1)) <= (c.contains(":") ? 128 : 32);
            if (!ok) {
                throw invalid("runtime_config.network_config.pod_cidr", show(c) + " is not a CIDR");
            }
        }
    }

    private static void command(String field, List<String> cmd) {
        if (cmd.isEmpty() || cmd.getFirst().isEmpty()) {
            throw invalid(field, "empty: no command to run");
        }
        RequestChecks.argsTotal(field, RequestChecks.argv(field, cmd));
    }

    private static void streams(boolean stdin, boolean stdout, boolean stderr, boolean tty) {
        if (tty && stderr) {
            throw invalid("stderr", "tty and stderr cannot both be true: a terminal has one output stream");
        }
        if (!stdin && !stdout && !stderr) {
            throw invalid("stdin", "one of stdin, stdout or stderr must be set");
        }
    }
}
