package io.coracle.helm;

import com.fasterxml.jackson.databind.JsonNode;
import com.marcnuri.helm.LintResult;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChartTest {
    @TempDir
    Path tmp;

    private Chart.Rendered defaults() {
        return Chart.render(null, tmp);
    }

    private static Container daemon(DaemonSet ds) {
        List<Container> containers = ds.getSpec().getTemplate().getSpec().getContainers();
        assertEquals(1, containers.size());
        return containers.getFirst();
    }

    private static Map<String, VolumeMount> mountsByPath(Container c) {
        return c.getVolumeMounts().stream().collect(Collectors.toMap(VolumeMount::getMountPath, Function.identity()));
    }

    private static Map<String, Volume> volumesByName(DaemonSet ds) {
        return ds.getSpec().getTemplate().getSpec().getVolumes().stream()
                .collect(Collectors.toMap(Volume::getName, Function.identity()));
    }

    private static Set<String> fieldNames(JsonNode node) {
        Set<String> names = new TreeSet<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    @Test
    void lintPassesStrict() {
        LintResult lint = Chart.helm().lint().strict().call();
        assertFalse(lint.isFailed(), () -> "helm lint --strict: " + lint.getMessages());
    }

    @Test
    void defaultsRenderDaemonSetConfigMapAndServiceAccountOnly() {
        Chart.Rendered r = defaults();
        assertEquals(3, r.objects().size(), () -> r.objects().toString());
        for (var o : List.of(r.daemonSet(), r.one(ConfigMap.class), r.one(ServiceAccount.class))) {
            assertEquals("coracle", o.getMetadata().getName(), o.getKind());
            assertEquals(Chart.NAMESPACE, o.getMetadata().getNamespace(), o.getKind());
        }
        assertTrue(r.all(RuntimeClass.class).isEmpty());
        assertEquals("coracle", r.daemonSet().getSpec().getTemplate().getSpec().getServiceAccountName());
    }

    @Test
    void daemonSetIsPrivilegedOnTheHostNamespaces() {
        DaemonSet ds = defaults().daemonSet();
        PodSpec pod = ds.getSpec().getTemplate().getSpec();
        assertTrue(pod.getHostPID());
        assertTrue(pod.getHostNetwork());
        assertEquals("ClusterFirstWithHostNet", pod.getDnsPolicy());
        assertEquals("system-node-critical", pod.getPriorityClassName());
        assertEquals(30L, pod.getTerminationGracePeriodSeconds());
        assertEquals("Exists", pod.getTolerations().getFirst().getOperator());
        assertEquals(Map.of("kubernetes.io/os", "linux"), pod.getNodeSelector());
        Container c = daemon(ds);
        assertTrue(c.getSecurityContext().getPrivileged());
        assertEquals(0L, c.getSecurityContext().getRunAsUser());
        assertEquals("ghcr.io/coracle/coracle:0.1.0", c.getImage());
        assertEquals("IfNotPresent", c.getImagePullPolicy());
        assertTrue(c.getCommand().isEmpty());
        assertEquals(List.of("daemon", "--config", "/etc/coracle/coracle.toml"), c.getArgs());
        assertEquals(new Quantity("192Mi"), c.getResources().getRequests().get("memory"));
        assertEquals(new Quantity("512Mi"), c.getResources().getLimits().get("memory"));
        // Selector matches the pod labels.
        ds.getSpec().getSelector().getMatchLabels().forEach((k, v) ->
                assertEquals(v, ds.getSpec().getTemplate().getMetadata().getLabels().get(k), k));
    }

    @Test
    void everyHostPathIsMountedWithItsPropagation() {
        DaemonSet ds = defaults().daemonSet();
        Map<String, VolumeMount> mounts = mountsByPath(daemon(ds));
        Map<String, Volume> volumes = volumesByName(ds);
        // path -> {propagation, readOnly}
        Map<String, List<Object>> expected = new LinkedHashMap<>();
        expected.put("/run/coracle", List.of("Bidirectional", false));
        expected.put("/var/lib/coracle", List.of("Bidirectional", false));
        expected.put("/var/log/pods", List.of("None", false));
        expected.put("/etc/cni/net.d", List.of("None", false));
        expected.put("/opt/cni/bin", List.of("None", true));
        expected.put("/var/lib/kubelet", List.of("HostToContainer", false));
        expected.put("/sys/fs/cgroup", List.of("None", false));
        expected.put("/dev", List.of("HostToContainer", false));
        expected.put("/lib/modules", List.of("None", true));
        expected.put("/etc/cdi", List.of("None", true));
        expected.put("/var/run/cdi", List.of("None", true));
        expected.forEach((path, want) -> {
            VolumeMount m = mounts.get(path);
            assertNotNull(m, "no mount at " + path + " in " + mounts.keySet());
            assertEquals(want.get(0), m.getMountPropagation(), path);
            assertEquals(want.get(1), Boolean.TRUE.equals(m.getReadOnly()), path + " readOnly");
            Volume v = volumes.get(m.getName());
            assertNotNull(v.getHostPath(), path + " is not a hostPath");
            assertEquals(path, v.getHostPath().getPath(), "host path of " + m.getName());
        });
        VolumeMount config = mounts.get("/etc/coracle/coracle.toml");
        assertEquals("coracle.toml", config.getSubPath());
        assertTrue(config.getReadOnly());
        assertEquals("coracle", volumes.get(config.getName()).getConfigMap().getName());
        assertEquals(expected.size() + 1, mounts.size(), mounts.keySet()::toString);
    }

    @Test
    void hostPathsFollowTheConfiguredDirectories() {
        DaemonSet ds = Chart.render("""
                config:
                  root: /data/coracle
                  state: /run/cr
                  socket: /run/cri/cri.sock
                  cni: {binDirs: [/opt/cni/bin, /usr/libexec/cni], confDir: /etc/cni/custom}
                kubeletDir: ""
                """, tmp).daemonSet();
        Map<String, VolumeMount> mounts = mountsByPath(daemon(ds));
        assertEquals("Bidirectional", mounts.get("/data/coracle").getMountPropagation());
        assertEquals("Bidirectional", mounts.get("/run/cr").getMountPropagation());
        assertEquals("None", mounts.get("/run/cri").getMountPropagation(), "socket directory outside state");
        assertTrue(mounts.get("/usr/libexec/cni").getReadOnly());
        assertNotNull(mounts.get("/etc/cni/custom"));
        assertNull(mounts.get("/var/lib/coracle"));
        assertNull(mounts.get("/var/lib/kubelet"));
        assertNotNull(mounts.get("/var/lib/kubelet/checkpoints"), "checkpoint dir outside any kubelet mount");
        assertNull(mounts.get("/run/dbus"), "no system bus with the cgroupfs driver");
        assertEquals("/data/coracle", volumesByName(ds).get(mounts.get("/data/coracle").getName()).getHostPath().getPath());
    }

    @Test
    void theSystemdDriverGetsTheHostsSystemBus() {
        DaemonSet ds = Chart.render("config: {cgroupDriver: systemd, cgroupParent: coracle.slice}", tmp).daemonSet();
        VolumeMount bus = mountsByPath(daemon(ds)).get("/run/dbus");
        assertNotNull(bus, "the daemon refuses to start with the systemd driver when the bus is not reachable");
        assertEquals("Directory", volumesByName(ds).get(bus.getName()).getHostPath().getType());
    }

    @Test
    void defaultConfigHasEverySectionAndDefault() {
        JsonNode t = defaults().toml();
        assertEquals(Set.of("socket", "root", "state", "log_level", "cgroup_driver", "shutdown_grace_seconds",
                "cgroup_parent", "systemd_bus", "pod_shm_size", "cdi", "cni", "events", "checkpoint", "streaming",
                "registry", "metrics"), fieldNames(t));
        assertEquals("/run/coracle/coracle.sock", t.get("socket").asText());
        assertEquals("/var/lib/coracle", t.get("root").asText());
        assertEquals("/run/coracle", t.get("state").asText());
        assertEquals("info", t.get("log_level").asText());
        assertEquals("cgroupfs", t.get("cgroup_driver").asText());
        assertEquals(10, t.get("shutdown_grace_seconds").asInt());
        assertTrue(t.get("shutdown_grace_seconds").isIntegralNumber());
        assertEquals("", t.get("cgroup_parent").asText());
        assertEquals("64Mi", t.get("pod_shm_size").asText());

        JsonNode cni = t.get("cni");
        assertEquals(Set.of("bin_dirs", "conf_dir", "network_name", "default_network", "default_bridge", "default_subnet",
                "plugin_timeout_seconds"), fieldNames(cni));
        assertEquals(120, cni.get("plugin_timeout_seconds").asInt());
        assertFalse(cni.get("default_network").asBoolean(), "a cluster's network plugin installs the network");
        assertEquals(1000, t.at("/events/subscriber_queue").asInt());
        assertEquals("127.0.0.1", t.at("/streaming/address").asText());
        assertEquals(0, t.at("/streaming/port").asInt());
        assertEquals(60, t.at("/streaming/token_ttl_seconds").asInt());
        assertNull(t.get("runtimes"));
        assertEquals("/opt/cni/bin", cni.get("bin_dirs").get(0).asText());
        assertEquals(1, cni.get("bin_dirs").size());
        assertEquals("/etc/cni/net.d", cni.get("conf_dir").asText());
        assertEquals("coracle0", cni.get("default_bridge").asText());
        assertEquals("10.88.0.0/16", cni.get("default_subnet").asText());

        JsonNode reg = t.get("registry");
        assertEquals(Set.of("max_concurrent_downloads", "max_retries", "request_timeout_seconds", "platform",
                "insecure", "pinned_images", "config_path", "auth_file"), fieldNames(reg));
        assertEquals("/etc/coracle/certs.d", reg.get("config_path").asText());
        assertEquals("", reg.get("auth_file").asText());
        assertEquals(3, reg.get("max_concurrent_downloads").asInt());
        assertEquals(5, reg.get("max_retries").asInt());
        assertEquals(30, reg.get("request_timeout_seconds").asInt());
        assertTrue(reg.get("insecure").isArray() && reg.get("insecure").isEmpty());

        JsonNode metrics = t.get("metrics");
        assertEquals(Set.of("enabled", "address", "port"), fieldNames(metrics));
        assertTrue(metrics.get("enabled").isBoolean() && metrics.get("enabled").asBoolean());
        assertEquals("0.0.0.0", metrics.get("address").asText());
        assertEquals(9465, metrics.get("port").asInt());
    }

    @Test
    void overriddenValuesReachTheConfig() {
        JsonNode t = Chart.render("""
                config:
                  logLevel: debug
                  cgroupDriver: systemd
                  cgroupParent: kubepods.slice
                  podShmSize: 128Mi
                  shutdownGraceSeconds: 20
                  cni: {networkName: "my \\"net\\"", defaultSubnet: 10.99.0.0/16}
                  registry:
                    maxRetries: 0
                    platform: linux/arm64/v8
                    insecure: ["registry.local:5000"]
                    pinnedImages: ["registry.k8s.io/pause:3.10"]
                    mirrors:
                      docker.io: {endpoints: ["http://10.0.0.1:5000", "https://mirror.gcr.io"]}
                      registry.k8s.io: {endpoints: ["https://k8s-mirror.example"]}
                    caFiles:
                      "registry.example:5000": /etc/coracle/certs/example.pem
                metrics: {port: 9999, address: 127.0.0.1}
                terminationGracePeriodSeconds: 45
                """, tmp).toml();
        assertEquals("debug", t.get("log_level").asText());
        assertEquals("systemd", t.get("cgroup_driver").asText());
        assertEquals("kubepods.slice", t.get("cgroup_parent").asText());
        assertEquals("128Mi", t.get("pod_shm_size").asText());
        assertEquals(20, t.get("shutdown_grace_seconds").asInt());
        assertEquals("my \"net\"", t.at("/cni/network_name").asText());
        assertEquals("10.99.0.0/16", t.at("/cni/default_subnet").asText());
        assertEquals(0, t.at("/registry/max_retries").asInt());
        assertEquals("linux/arm64/v8", t.at("/registry/platform").asText());
        assertEquals("registry.local:5000", t.at("/registry/insecure/0").asText());
        assertEquals("registry.k8s.io/pause:3.10", t.at("/registry/pinned_images/0").asText());
        JsonNode mirrors = t.at("/registry/mirrors");
        assertEquals(Set.of("docker.io", "registry.k8s.io"), fieldNames(mirrors));
        assertEquals(List.of("http://10.0.0.1:5000", "https://mirror.gcr.io"), texts(mirrors.get("docker.io").get("endpoints")));
        assertEquals(List.of("https://k8s-mirror.example"), texts(mirrors.get("registry.k8s.io").get("endpoints")));
        assertEquals("/etc/coracle/certs/example.pem", t.at("/registry/ca_files").get("registry.example:5000").asText());
        assertEquals(9999, t.at("/metrics/port").asInt());
        assertEquals("127.0.0.1", t.at("/metrics/address").asText());
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    @Test
    void podShmSizeInBytesStaysAnInteger() {
        JsonNode t = Chart.render("config: {podShmSize: 134217728}", tmp).toml();
        assertEquals("134217728", t.get("pod_shm_size").asText());
    }

    @Test
    void configChangeChangesThePodTemplateChecksum() {
        String before = defaults().daemonSet().getSpec().getTemplate().getMetadata().getAnnotations().get("checksum/config");
        String after = Chart.render("config: {logLevel: warn}", tmp).daemonSet()
                .getSpec().getTemplate().getMetadata().getAnnotations().get("checksum/config");
        assertNotNull(before);
        assertFalse(before.equals(after), "checksum/config unchanged by a config change");
    }

    @Test
    void runtimeClassesForConfiguredHandlers() {
        Chart.Rendered r = Chart.render("runtimeClasses: [runc, crun]", tmp);
        List<RuntimeClass> classes = r.all(RuntimeClass.class);
        assertEquals(List.of("runc", "crun"), classes.stream().map(c -> c.getMetadata().getName()).toList());
        assertEquals(List.of("runc", "crun"), classes.stream().map(RuntimeClass::getHandler).toList());
        assertEquals("node.k8s.io/v1", classes.getFirst().getApiVersion());
    }

    @Test
    void runtimeClassesGetTheirHandlersAsTheReadmeSays() {
        JsonNode t = Chart.render("runtimeClasses: [runc, crun]", tmp).toml();
        assertEquals(Set.of("runc", "crun"), fieldNames(t.get("runtimes")));
        assertEquals("/usr/sbin/runc", t.at("/runtimes/runc/path").asText());
        assertEquals("/usr/bin/crun", t.at("/runtimes/crun/path").asText());

        t = Chart.render("""
                runtimeClasses: [runc, kata]
                config: {runtimes: {runc: {path: /opt/runc/runc}, youki: {path: /usr/local/bin/youki}}}
                """, tmp).toml();
        assertEquals(Set.of("runc", "kata", "youki"), fieldNames(t.get("runtimes")));
        assertEquals("/opt/runc/runc", t.at("/runtimes/runc/path").asText());
        assertEquals("/usr/local/bin/kata", t.at("/runtimes/kata/path").asText());
        assertEquals("/usr/local/bin/youki", t.at("/runtimes/youki/path").asText());
    }

    /** Every value set: the ConfigMap holds every key of `coracle config default`, and the daemon loads it. */
    @Test
    void everySectionRendersAndTheDaemonAcceptsIt() throws Exception {
        Chart.Rendered r = Chart.render("""
                runtimeClasses: [runc, crun]
                config:
                  cni: {defaultNetwork: true, networkName: pods, pluginTimeoutSeconds: 30}
                  events: {subscriberQueue: 5000}
                  streaming: {address: 0.0.0.0, port: 10010, tlsCertFile: /etc/coracle/tls/cert.pem,
                              tlsKeyFile: /etc/coracle/tls/key.pem, idleTimeoutSeconds: 600, tokenTtlSeconds: 30}
                  runtimes: {kata: {path: /opt/kata/bin/kata-runtime}}
                  registry:
                    mirrors: {docker.io: {endpoints: ["https://mirror.example"]}}
                    caFiles: {"registry.example:5000": /etc/coracle/certs/example.pem}
                    configPath: /etc/coracle/hosts
                    authFile: /etc/coracle/auth.json
                    signaturePolicy: {"registry.example/prod": {publicKeys: [/etc/coracle/cosign.pub]}}
                """, tmp);
        String text = r.one(ConfigMap.class).getData().get("coracle.toml");
        java.util.Map<String, Object> values = io.coracle.runtime.config.ConfigLoader.parse(text, "chart");
        for (io.coracle.runtime.config.ConfigKey key : io.coracle.runtime.config.ConfigSchema.KEYS) {
            if (!key.path().contains("*")) {
                assertTrue(values.containsKey(key.path()), "the chart's coracle.toml sets " + key.path() + ":\n" + text);
            }
        }
        io.coracle.runtime.config.DaemonConfig c = io.coracle.runtime.config.DaemonConfig.from(values, Map.of(), "chart");
        assertEquals(Set.of("runc", "crun", "kata"), c.runtimes().keySet());
        assertEquals(Path.of("/usr/sbin/runc"), c.runtimes().get("runc"));
        assertEquals(10010, c.streaming().port());
        assertEquals(Path.of("/etc/coracle/tls/cert.pem"), c.streaming().tlsCertFile());
        assertEquals(30, c.streaming().tokenTtl().toSeconds());
        assertEquals(5000, c.eventSubscriberQueue());
        assertTrue(c.cni().defaultNetwork());
        assertEquals(List.of(java.net.URI.create("https://mirror.example")), c.registry().mirrors().get("docker.io"));
        assertEquals(Path.of("/etc/coracle/certs/example.pem"), c.registry().caFiles().get("registry.example:5000"));
        assertEquals(30, c.cni().pluginTimeout().toSeconds());
        assertEquals(Map.of("registry.example/prod", List.of(Path.of("/etc/coracle/cosign.pub"))), c.registry().signaturePolicy());
        assertEquals(Path.of("/etc/coracle/hosts"), c.registry().configPath());
        assertEquals(Path.of("/etc/coracle/auth.json"), c.registry().authFile());
        // The defaults load too.
        io.coracle.runtime.config.DaemonConfig.from(io.coracle.runtime.config.ConfigLoader.parse(
                defaults().one(ConfigMap.class).getData().get("coracle.toml"), "chart defaults"), Map.of(), "chart defaults");
    }

    @Test
    void badStreamingAndRuntimeValuesFail() {
        assertRenderingFails("config: {streaming: {port: 70000}}", "port");
        assertRenderingFails("config: {streaming: {address: example.com}}", "address");
        assertRenderingFails("config: {runtimes: {runc: {path: runc}}}", "path");
        assertRenderingFails("config: {runtimes: {Bad_Name: {path: /usr/bin/x}}}", "Bad_Name");
        assertRenderingFails("config: {events: {subscriberQueue: 1}}", "subscriberQueue");
    }

    @Test
    void metricsProbeAndScrapeAnnotationsByDefault() {
        DaemonSet ds = defaults().daemonSet();
        Map<String, String> annotations = ds.getSpec().getTemplate().getMetadata().getAnnotations();
        assertEquals("true", annotations.get("prometheus.io/scrape"));
        assertEquals("9465", annotations.get("prometheus.io/port"));
        assertEquals("/metrics", annotations.get("prometheus.io/path"));
        Container c = daemon(ds);
        assertEquals(9465, c.getPorts().getFirst().getContainerPort());
        assertEquals("metrics", c.getPorts().getFirst().getName());
        Probe p = c.getLivenessProbe();
        assertEquals("/metrics", p.getHttpGet().getPath());
        assertEquals(9465, p.getHttpGet().getPort().getIntVal());
        assertNull(p.getHttpGet().getHost(), "0.0.0.0: the kubelet probes the pod (node) IP");
        assertNull(p.getExec());
        assertEquals(3, p.getFailureThreshold());
        assertEquals(20, p.getPeriodSeconds());
    }

    @Test
    void loopbackMetricsAreProbedOnLoopbackAndPortOverridesFollow() {
        assertEquals("::1", daemon(Chart.render("metrics: {address: \"::1\"}", tmp).daemonSet()).getLivenessProbe().getHttpGet().getHost());
        assertNull(daemon(Chart.render("metrics: {address: \"::\"}", tmp).daemonSet()).getLivenessProbe().getHttpGet().getHost());
        DaemonSet ds = Chart.render("metrics: {address: 127.0.0.1, port: 9999}", tmp).daemonSet();
        Probe p = daemon(ds).getLivenessProbe();
        assertEquals("127.0.0.1", p.getHttpGet().getHost());
        assertEquals(9999, p.getHttpGet().getPort().getIntVal());
        assertEquals("9999", ds.getSpec().getTemplate().getMetadata().getAnnotations().get("prometheus.io/port"));
    }

    @Test
    void withoutMetricsTheProbeChecksTheSocketAndNothingIsAnnotated() {
        Chart.Rendered r = Chart.render("metrics: {enabled: false}\nconfig: {socket: /run/coracle/cri.sock}", tmp);
        Container c = daemon(r.daemonSet());
        assertEquals(List.of("test", "-S", "/run/coracle/cri.sock"), c.getLivenessProbe().getExec().getCommand());
        assertTrue(c.getPorts().isEmpty());
        Map<String, String> annotations = r.daemonSet().getSpec().getTemplate().getMetadata().getAnnotations();
        assertFalse(annotations.containsKey("prometheus.io/scrape"), annotations::toString);
        assertFalse(r.toml().at("/metrics/enabled").asBoolean(true));
    }

    @Test
    void customExecProbeAndDisabledProbe() {
        Probe p = daemon(Chart.render("livenessProbe: {exec: [grpc_health_probe, \"-addr=unix:///run/coracle/coracle.sock\"]}", tmp)
                .daemonSet()).getLivenessProbe();
        assertEquals(List.of("grpc_health_probe", "-addr=unix:///run/coracle/coracle.sock"), p.getExec().getCommand());
        assertNull(p.getHttpGet());
        assertNull(daemon(Chart.render("livenessProbe: {enabled: false}", tmp).daemonSet()).getLivenessProbe());
    }

    @Test
    void schedulingImageAndArgsValues() {
        DaemonSet ds = Chart.render("""
                image: {repository: registry.example/coracle, tag: "1.2.3", pullPolicy: Always}
                command: [/opt/coracle/coracle]
                extraArgs: [--log-level, debug]
                nodeSelector: {coracle: "yes"}
                tolerations: [{key: dedicated, operator: Equal, value: runtime, effect: NoSchedule}]
                affinity:
                  nodeAffinity:
                    requiredDuringSchedulingIgnoredDuringExecution:
                      nodeSelectorTerms: [{matchExpressions: [{key: arch, operator: In, values: [amd64]}]}]
                resources: {requests: {cpu: 250m}, limits: {memory: 1Gi}}
                """, tmp).daemonSet();
        PodSpec pod = ds.getSpec().getTemplate().getSpec();
        Container c = daemon(ds);
        assertEquals("registry.example/coracle:1.2.3", c.getImage());
        assertEquals("Always", c.getImagePullPolicy());
        assertEquals(List.of("/opt/coracle/coracle"), c.getCommand());
        assertEquals(List.of("daemon", "--config", "/etc/coracle/coracle.toml", "--log-level", "debug"), c.getArgs());
        // Helm merges maps with the defaults.
        assertEquals(Map.of("coracle", "yes", "kubernetes.io/os", "linux"), pod.getNodeSelector());
        assertEquals("dedicated", pod.getTolerations().getFirst().getKey());
        assertEquals("arch", pod.getAffinity().getNodeAffinity().getRequiredDuringSchedulingIgnoredDuringExecution()
                .getNodeSelectorTerms().getFirst().getMatchExpressions().getFirst().getKey());
        assertEquals(new Quantity("250m"), c.getResources().getRequests().get("cpu"));
        assertEquals(new Quantity("1Gi"), c.getResources().getLimits().get("memory"));
    }

    private void assertRenderingFails(String values, String... mustName) {
        Exception e = assertThrows(Exception.class, () -> Chart.renderRaw(values, tmp), values);
        String message = String.valueOf(e.getMessage());
        for (String name : mustName) {
            assertTrue(message.contains(name), () -> "message does not name " + name + ": " + message);
        }
    }

    @Test
    void badCgroupDriverFails() {
        assertRenderingFails("config: {cgroupDriver: cgroupv2}", "/config/cgroupDriver", "cgroupfs", "systemd");
    }

    @Test
    void relativePathsFail() {
        assertRenderingFails("config: {root: var/lib/coracle}", "/config/root", "var/lib/coracle");
        assertRenderingFails("config: {socket: coracle.sock}", "/config/socket");
        assertRenderingFails("config: {cni: {binDirs: [opt/cni/bin]}}", "/config/cni/binDirs/0");
        assertRenderingFails("config: {registry: {caFiles: {\"r.example\": certs/r.pem}}}", "/config/registry/caFiles/r.example");
    }

    @Test
    void emptyImageRepositoryFails() {
        assertRenderingFails("image: {repository: \"\"}", "/image/repository");
    }

    @Test
    void badLogLevelMetricsPortAndMirrorFail() {
        assertRenderingFails("config: {logLevel: verbose}", "/config/logLevel");
        assertRenderingFails("metrics: {port: 70000}", "/metrics/port");
        assertRenderingFails("metrics: {address: localhost}", "/metrics/address", "localhost");
        assertRenderingFails("config: {registry: {mirrors: {docker.io: {endpoints: [\"mirror.example\"]}}}}", "/config/registry/mirrors/docker.io/endpoints/0");
        assertRenderingFails("config: {podShmSize: 64MB}", "/config/podShmSize");
    }

    @Test
    void unknownConfigKeyFails() {
        assertRenderingFails("config: {log_level: debug}", "/config", "log_level");
    }

    @Test
    void gracePeriodMustExceedShutdownGrace() {
        assertRenderingFails("terminationGracePeriodSeconds: 10", "terminationGracePeriodSeconds", "config.shutdownGraceSeconds");
    }

    @Test
    void badRuntimeClassNameFails() {
        assertRenderingFails("runtimeClasses: [Runc_1]", "runtimeClasses", "Runc_1");
    }
}
