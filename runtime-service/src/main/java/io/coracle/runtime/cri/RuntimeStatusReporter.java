package io.coracle.runtime.cri;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.CgroupDriver;
import io.coracle.cri.v1.LinuxRuntimeConfiguration;
import io.coracle.cri.v1.RuntimeCondition;
import io.coracle.cri.v1.RuntimeConfigResponse;
import io.coracle.cri.v1.RuntimeFeatures;
import io.coracle.cri.v1.RuntimeHandler;
import io.coracle.cri.v1.RuntimeHandlerFeatures;
import io.coracle.cri.v1.RuntimeStatus;
import io.coracle.cri.v1.StatusResponse;
import io.coracle.cri.v1.VersionResponse;
import io.coracle.runtime.config.DaemonConfig;
import io.coracle.runtime.container.HostFeatures;
import io.coracle.sys.HostSecurity;
import io.coracle.sys.NativePrograms;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import io.coracle.sandbox.NetworkCondition;
import io.coracle.sandbox.SandboxConfig;

/** Answers Version, Status and RuntimeConfig from what the daemon can actually do right now. */
public final class RuntimeStatusReporter {
    /** The kubelet runtime API version this daemon speaks (the CRI's Version.version). */
    static final String KUBELET_API_VERSION = "0.1.0";
    public static final String CRI_API_VERSION = "v1";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final DaemonConfig config;
    private final NativePrograms programs;
    private final Supplier<NetworkCondition> network;
    private final HostFeatures host;
    private volatile Map<String, Object> checkpoint;

    public RuntimeStatusReporter(DaemonConfig config, NativePrograms programs, Supplier<NetworkCondition> network,
                                 HostFeatures host) {
        this.host = host;
        this.config = config;
        this.programs = programs;
        this.network = network;
    }

    public VersionResponse version() {
        return VersionResponse.newBuilder()
                .setVersion(KUBELET_API_VERSION)
                .setRuntimeName(BuildInfo.RUNTIME_NAME)
                .setRuntimeVersion(BuildInfo.VERSION)
                .setRuntimeApiVersion(CRI_API_VERSION)
                .build();
    }

    public StatusResponse status(boolean verbose) {
        StatusResponse.Builder response = StatusResponse.newBuilder()
                .setStatus(RuntimeStatus.newBuilder()
                        .addConditions(runtimeCondition())
                        .addConditions(networkCondition()))
                .addAllRuntimeHandlers(runtimeHandlers().stream().map(name -> RuntimeHandler.newBuilder()
                        .setName(name)
                        .setFeatures(RuntimeHandlerFeatures.newBuilder()
                                .setRecursiveReadOnlyMounts(host.recursiveReadOnly(name))
                                .setUserNamespaces(host.userNamespaces(name))).build()).toList())
                .setFeatures(RuntimeFeatures.newBuilder().setSupplementalGroupsPolicy(true));
        if (verbose) {
            response.putInfo("config", configJson());
            response.putInfo("security", securityJson());
            if (checkpoint != null) {
                response.putInfo("checkpoint", json(checkpoint));
            }
        }
        return response.build();
    }

    /** What the verbose Status's "checkpoint" entry says: CRIU as probed at start-up, and the archives' directory. */
    public void reportCheckpointSupport(io.coracle.runtime.checkpoint.CriuSupport criu, Path checkpointDir) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("criu", criu.binary() == null ? "" : criu.binary().toString());
        m.put("criuVersion", criu.version());
        m.put("usable", criu.usable());
        m.put("reason", criu.reason());
        m.put("checkpointDir", checkpointDir.toString());
        m.put("summary", criu.describe());
        checkpoint = m;
    }

    private static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Why a pod with a user namespace cannot run on the handler, or null when it can. */
    public String userNamespacesMissing(String handler) {
        return host.userNamespacesMissing(handler);
    }

    /** "" (Coracle's own shim) and every configured handler. */
    public List<String> runtimeHandlers() {
        List<String> names = new ArrayList<>(List.of(""));
        names.addAll(config.runtimes().keySet().stream().sorted().toList());
        return names;
    }

    public RuntimeConfigResponse runtimeConfig() {
        CgroupDriver driver = config.cgroupDriver() == SandboxConfig.CgroupDriver.SYSTEMD
                ? CgroupDriver.SYSTEMD : CgroupDriver.CGROUPFS;
        return RuntimeConfigResponse.newBuilder()
                .setLinux(LinuxRuntimeConfiguration.newBuilder().setCgroupDriver(driver))
                .build();
    }

    /** RuntimeReady: the native programs are installed and the state directories are writable. */
    private RuntimeCondition runtimeCondition() {
        List<String> problems = new ArrayList<>();
        List<String> missing = programs.missing(List.of(NativePrograms.PAUSE, NativePrograms.SHIM));
        if (!missing.isEmpty()) {
            problems.add("native programs missing or not executable: " + String.join(", ", missing));
        }
        for (Path dir : List.of(config.root(), config.state())) {
            if (!Files.isDirectory(dir) || !Files.isWritable(dir)) {
                problems.add("directory " + dir + " is not writable");
            }
        }
        RuntimeCondition.Builder condition = RuntimeCondition.newBuilder().setType("RuntimeReady");
        if (problems.isEmpty()) {
            return condition.setStatus(true).build();
        }
        return condition.setStatus(false).setReason("RuntimeNotReady").setMessage(String.join("; ", problems)).build();
    }

    /** NetworkReady: a CNI network config loads and its plugins are installed. */
    private RuntimeCondition networkCondition() {
        NetworkCondition n = network.get();
        RuntimeCondition.Builder condition = RuntimeCondition.newBuilder().setType("NetworkReady").setStatus(n.ready());
        if (!n.ready()) {
            condition.setReason(n.reason()).setMessage(n.message());
        }
        return condition.build();
    }

    /** The host's LSMs and what each handler enforces: the verbose Status's "security" entry. */
    private String securityJson() {
        HostSecurity s = host.security();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("lsms", s.lsms());
        m.put("lsmsFrom", s.lsmsFrom());
        m.put("apparmor", s.apparmor());
        m.put("apparmorParser", s.apparmorParser());
        m.put("selinux", s.selinux());
        Map<String, Boolean> rro = new LinkedHashMap<>();
        runtimeHandlers().forEach(h -> rro.put(h, host.recursiveReadOnly(h)));
        m.put("recursiveReadOnlyMounts", rro);
        // Per handler: "yes", or why pods with user namespaces do not run on it (its probe's answer).
        Map<String, String> userns = new LinkedHashMap<>();
        runtimeHandlers().forEach(h -> userns.put(h, host.userNamespacesMissing(h) == null ? "yes"
                : host.userNamespacesMissing(h)));
        m.put("userNamespaces", userns);
        m.put("summary", s.describe());
        try {
            return JSON.writeValueAsString(m);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private String configJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("socket", config.socket().toString());
        m.put("root", config.root().toString());
        m.put("state", config.state().toString());
        m.put("logLevel", config.logLevel());
        m.put("cgroupDriver", config.cgroupDriver().name().toLowerCase());
        m.put("shutdownGraceSeconds", config.shutdownGrace().toSeconds());
        m.put("cgroupParent", config.cgroupParent());
        m.put("cni", Map.of("binDirs", config.cni().binDirs().stream().map(Path::toString).toList(),
                "confDir", config.cni().confDir().toString(), "networkName", config.cni().networkName()));
        m.put("registryMirrors", config.registry().mirrors().toString());
        m.put("configSource", config.source());
        m.put("nativePrograms", programs.dir().toString());
        try {
            return JSON.writeValueAsString(m);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
