package io.coracle.helm;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * install.mode host (the kata-deploy pattern): the rendered DaemonSets, hooks and mounts, and the
 * rendered node-install.sh itself run against a fake host root made here (a temp dir standing for the
 * host's /, a release tree standing for the image's, a systemctl stub recording what the host's systemd
 * would be asked: no systemd runs on this machine).
 */
class NodeInstallTest {
    private static final Path UNIT = Chart.DIR.resolve("../../runtime-service/src/main/dist/coracle.service").normalize();
    private static final List<String> HOST_DIRS = List.of("/opt/coracle", "/etc/coracle", "/etc/systemd/system", "/run/systemd");

    @TempDir
    Path tmp;

    private static final String EVERY_VALUE = """
                install: {mode: host}
                image: {repository: registry.example/coracle, tag: "1.2.3", pullPolicy: Always}
                imagePullSecrets: [{name: regcred}]
                runtimeClasses: [runc, crun]
                priorityClassName: system-node-critical
                podAnnotations: {team: nodes}
                config:
                  socket: /run/coracle/coracle.sock
                  cni: {defaultNetwork: true, networkName: pods, pluginTimeoutSeconds: 30}
                  events: {subscriberQueue: 5000}
                  streaming: {address: 0.0.0.0, port: 10010, idleTimeoutSeconds: 600, tokenTtlSeconds: 30}
                  runtimes: {kata: {path: /opt/kata/bin/kata-runtime}}
                  registry:
                    mirrors: {docker.io: {endpoints: ["https://mirror.example"]}}
                    caFiles: {"registry.example:5000": /etc/coracle/certs/example.pem}
                    signaturePolicy: {"registry.example/prod": {publicKeys: [/etc/coracle/cosign.pub]}}
                """;

    /**
     * Every value of the chart set, in host mode, hooks included: helm-java's template, like a release's
     * manifest, leaves hook objects out, so a copy of the chart renames the hook annotations
     * (helm.sh/hook* to test.helm.sh/hook*), which makes them ordinary objects of the rendering.
     */
    private Chart.Rendered everyValue;

    private Chart.Rendered everyValue() {
        if (everyValue != null) {
            return everyValue;
        }
        try {
            Path copy = tmp.resolve("chart-with-hooks");
            try (Stream<Path> files = Files.walk(Chart.DIR)) {
                for (Path f : files.toList()) {
                    Path to = copy.resolve(Chart.DIR.relativize(f).toString());
                    if (Files.isDirectory(f)) {
                        Files.createDirectories(to);
                    } else if (f.getParent().getFileName().toString().equals("templates")) {
                        Files.writeString(to, Files.readString(f).replace("helm.sh/hook", "test.helm.sh/hook"));
                    } else {
                        Files.copy(f, to);
                    }
                }
            }
            Path values = Files.writeString(tmp.resolve("every-value.yaml"), EVERY_VALUE);
            return everyValue = Chart.Rendered.parse(new com.marcnuri.helm.Helm(copy).template().withName(Chart.RELEASE)
                    .withNamespace(Chart.NAMESPACE).withKubeVersion(Chart.KUBE_VERSION).withValuesFile(values).call());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static DaemonSet named(Chart.Rendered r, String suffix) {
        return r.all(DaemonSet.class).stream().filter(d -> d.getMetadata().getName().endsWith(suffix)).findFirst()
                .orElseThrow(() -> new AssertionError("no DaemonSet *" + suffix));
    }

    private static ConfigMap configMap(Chart.Rendered r, String name) {
        return r.all(ConfigMap.class).stream().filter(c -> c.getMetadata().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no ConfigMap " + name));
    }

    @Test
    void hostModeRendersTheInstallerAndTheUninstallHookInsteadOfTheDaemon() throws IOException {
        Chart.Rendered r = everyValue();
        assertEquals(2, r.all(DaemonSet.class).size(), "no DaemonSet running the daemon itself in host mode");
        String script = Files.readString(Chart.DIR.resolve("files/node-install.sh"));

        for (String component : List.of("node-install", "node-uninstall")) {
            DaemonSet ds = named(r, "-" + component);
            PodSpec pod = ds.getSpec().getTemplate().getSpec();
            assertTrue(pod.getHostPID(), "reaches the host's PID 1 and the kubelet's /proc entry");
            assertNull(pod.getHostNetwork());
            Container c = pod.getContainers().getFirst();
            assertTrue(c.getSecurityContext().getPrivileged());
            assertEquals("registry.example/coracle:1.2.3", c.getImage());
            assertEquals(List.of("/bin/sh", "/node-install/node-install.sh",
                    component.equals("node-install") ? "run" : "run-uninstall"), c.getCommand());
            Map<String, String> env = c.getEnv().stream().filter(e -> e.getValue() != null)
                    .collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
            assertEquals(Map.of("HOST_ROOT", "/host", "CONFIG_FILE", "/etc/coracle-chart/coracle.toml",
                    "SOCKET", "/run/coracle/coracle.sock"), env);
            assertEquals("spec.nodeName", c.getEnv().stream().filter(e -> e.getName().equals("NODE_NAME")).findFirst()
                    .orElseThrow().getValueFrom().getFieldRef().getFieldPath());
            assertEquals(List.of("test", "-f", "/tmp/node-install.done"), c.getReadinessProbe().getExec().getCommand());

            Map<String, VolumeMount> mounts = c.getVolumeMounts().stream()
                    .collect(Collectors.toMap(VolumeMount::getMountPath, Function.identity()));
            Map<String, Volume> volumes = pod.getVolumes().stream().collect(Collectors.toMap(Volume::getName, Function.identity()));
            for (String dir : HOST_DIRS) {
                VolumeMount m = mounts.get("/host" + dir);
                assertTrue(m != null, "host " + dir + " mounted at /host" + dir + ": " + mounts.keySet());
                assertEquals(dir, volumes.get(m.getName()).getHostPath().getPath());
                assertEquals(dir.startsWith("/etc/systemd") || dir.startsWith("/run/systemd") ? "Directory" : "DirectoryOrCreate",
                        volumes.get(m.getName()).getHostPath().getType());
            }
            assertEquals(HOST_DIRS.size() + (component.equals("node-install") ? 2 : 1), mounts.size(), mounts.keySet().toString());
            assertEquals("/node-install", mounts.entrySet().stream().filter(e -> e.getValue().getName().equals("node-install"))
                    .findFirst().orElseThrow().getKey());
            // The script the pod runs is the chart's file, byte for byte.
            String cmName = volumes.get("node-install").getConfigMap().getName();
            assertEquals(0555, volumes.get("node-install").getConfigMap().getDefaultMode());
            assertEquals(script, configMap(r, cmName).getData().get("node-install.sh"));
            assertEquals(List.of(Map.of("name", "regcred")), pod.getImagePullSecrets().stream().map(s -> Map.of("name", s.getName())).toList());
            assertEquals("nodes", ds.getSpec().getTemplate().getMetadata().getAnnotations().get("team"));
        }

        DaemonSet install = named(r, "-node-install");
        assertTrue(install.getMetadata().getAnnotations() == null || install.getMetadata().getAnnotations().isEmpty(),
                "the installer is part of the release, not a hook");
        assertTrue(install.getSpec().getTemplate().getMetadata().getAnnotations().containsKey("checksum/config"),
                "a config change rolls the installer, which rewrites the host's config and restarts the unit");
        assertTrue(install.getSpec().getTemplate().getSpec().getVolumes().stream().anyMatch(v -> v.getConfigMap() != null
                && v.getConfigMap().getName().equals("coracle")), "the rendered coracle.toml");

        // The uninstaller and its script are pre-delete hooks: they exist while the release's objects are deleted.
        DaemonSet uninstall = named(r, "-node-uninstall");
        assertEquals(Map.of("test.helm.sh/hook", "pre-delete", "test.helm.sh/hook-delete-policy", "before-hook-creation"),
                uninstall.getMetadata().getAnnotations());
        ConfigMap hookScript = configMap(r, "coracle-node-uninstall");
        assertEquals(Map.of("test.helm.sh/hook", "pre-delete", "test.helm.sh/hook-weight", "-1",
                "test.helm.sh/hook-delete-policy", "before-hook-creation"), hookScript.getMetadata().getAnnotations());
        // Without the renaming, the hooks are not in the release's manifest: they are Helm's to run.
        Chart.Rendered manifest = Chart.render(EVERY_VALUE, tmp);
        assertEquals(List.of("coracle-node-install"), manifest.all(DaemonSet.class).stream().map(d -> d.getMetadata().getName()).toList());
        assertEquals(List.of("coracle", "coracle-node-install"),
                manifest.all(ConfigMap.class).stream().map(c -> c.getMetadata().getName()).sorted().toList());
        PodSpec uninstallPod = uninstall.getSpec().getTemplate().getSpec();
        assertNull(uninstallPod.getServiceAccountName(), "the release's ServiceAccount may be gone before its pods start");
        assertTrue(uninstallPod.getVolumes().stream().noneMatch(v -> v.getConfigMap() != null
                && v.getConfigMap().getName().equals("coracle")), "no release ConfigMap either");
        assertNotEquals(install.getSpec().getSelector().getMatchLabels(), uninstall.getSpec().getSelector().getMatchLabels());
    }

    @Test
    void containerModeIsTheDefaultAndRendersNoInstaller() {
        Chart.Rendered r = Chart.render(null, tmp);
        assertEquals(1, r.all(DaemonSet.class).size());
        assertEquals("coracle", r.daemonSet().getMetadata().getName());
        assertEquals(1, r.all(ConfigMap.class).size());
    }

    @Test
    void badInstallModeFails() {
        String message = "";
        try {
            Chart.render("install: {mode: chroot}", tmp);
        } catch (RuntimeException e) {
            message = e.getMessage();
        }
        assertTrue(message.contains("mode"), message);
    }

    // ---- node-install.sh against a fake host ----

    /** The image's side: /opt/coracle (the release) and /etc/systemd/system/coracle.service (the real unit). */
    private Path image(String version, String jar) throws IOException {
        Path image = tmp.resolve("image-" + version + "-" + jar.hashCode());
        Path home = image.resolve("opt/coracle");
        Files.createDirectories(home.resolve("bin"));
        Files.createDirectories(home.resolve("lib"));
        Files.createDirectories(home.resolve("libexec"));
        Files.createDirectories(home.resolve("jre/bin"));
        Files.writeString(home.resolve("VERSION"), version + "\n");
        executable(home.resolve("bin/coracle"), "#!/bin/sh\necho launcher\n");
        executable(home.resolve("libexec/coracle-shim"), "shim");
        executable(home.resolve("jre/bin/java"), "java");
        Files.writeString(home.resolve("lib/coracle.jar"), jar);
        Files.createDirectories(image.resolve("etc/systemd/system"));
        Files.copy(UNIT, image.resolve("etc/systemd/system/coracle.service"));
        return image;
    }

    private static void executable(Path p, String content) throws IOException {
        Files.writeString(p, content);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /** A host root with the four mounted directories and a systemd runtime dir (a host running systemd). */
    private Path host() throws IOException {
        Path host = tmp.resolve("host");
        for (String d : HOST_DIRS) {
            Files.createDirectories(host.resolve(d.substring(1)));
        }
        Files.createDirectories(host.resolve("run/systemd/system"));
        return host;
    }

    /** A systemctl stub: appends its arguments to calls.log; is-active answers from the file "active". */
    private Path systemctl() throws IOException {
        Path stub = tmp.resolve("systemctl");
        executable(stub, """
                #!/bin/sh
                echo "$*" >>"%1$s/calls.log"
                case "$1" in
                  is-active) [ -f "%1$s/active" ] ;;
                  start|restart) touch "%1$s/active" ;;
                  disable) rm -f "%1$s/active" ;;
                esac
                """.formatted(tmp));
        return stub;
    }

    /** A kubectl stub: appends its arguments to kubectl.log. */
    private Path kubectl() throws IOException {
        Path stub = tmp.resolve("kubectl");
        executable(stub, "#!/bin/sh\necho \"$*\" >>\"" + tmp + "/kubectl.log\"\n");
        return stub;
    }

    private List<String> kubectlCalls() throws IOException {
        Path log = tmp.resolve("kubectl.log");
        List<String> calls = Files.exists(log) ? Files.readAllLines(log) : List.of();
        Files.deleteIfExists(log);
        return calls;
    }

    private record Run(int exit, String output) {
    }

    private Run script(Path image, Path host, Path config, Path proc, String action) throws Exception {
        Path script = Files.writeString(tmp.resolve("node-install.sh"),
                configMap(everyValue(), "coracle-node-install").getData().get("node-install.sh"));
        ProcessBuilder pb = new ProcessBuilder("sh", script.toString(), action).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.put("HOST_ROOT", host.toString());
        env.put("IMAGE_ROOT", image.toString());
        env.put("CONFIG_FILE", config.toString());
        env.put("PROC", proc.toString());
        env.put("SOCKET", "/run/coracle/coracle.sock");
        env.put("SYSTEMCTL", systemctl().toString());
        env.put("NODE_NAME", "node-1");
        env.put("KUBECTL", kubectl().toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Run(p.exitValue(), out);
    }

    private List<String> calls() throws IOException {
        Path log = tmp.resolve("calls.log");
        List<String> calls = Files.exists(log) ? Files.readAllLines(log) : List.of();
        Files.deleteIfExists(log);
        return calls;
    }

    private Path emptyProc() throws IOException {
        return Files.createDirectories(tmp.resolve("proc"));
    }

    private static List<String> releases(Path host) throws IOException {
        try (Stream<Path> s = Files.list(host.resolve("opt/coracle/releases"))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void installCopiesTheReleaseWritesUnitAndConfigAndStartsTheUnitThenUninstallUndoesIt() throws Exception {
        Path host = host();
        Files.writeString(host.resolve("etc/coracle/coracle.toml"), "# the node's own\n");
        Path config = Files.writeString(tmp.resolve("coracle.toml"),
                configMap(everyValue(), "coracle").getData().get("coracle.toml"));
        Path image = image("1.2.3", "jar-one");

        Run run = script(image, host, config, emptyProc(), "install");
        assertEquals(0, run.exit(), run.output());
        List<String> ids = releases(host);
        assertEquals(1, ids.size(), ids.toString());
        String id = ids.getFirst();
        assertTrue(id.matches("1\\.2\\.3-[0-9a-f]{12}"), id);
        Path current = host.resolve("opt/coracle/current");
        assertEquals(Path.of("releases/" + id), Files.readSymbolicLink(current));
        assertEquals("jar-one", Files.readString(current.resolve("lib/coracle.jar")));
        for (String exe : List.of("bin/coracle", "libexec/coracle-shim", "jre/bin/java")) {
            assertEquals("rwxr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(current.resolve(exe))), exe);
        }

        List<String> unit = Files.readAllLines(host.resolve("etc/systemd/system/coracle.service"));
        assertTrue(unit.getFirst().startsWith("# Written by the Coracle chart (node-install.sh)"), unit.getFirst());
        List<String> original = Files.readAllLines(UNIT);
        assertEquals(original.size() + 1, unit.size());
        for (String line : original) {
            if (line.startsWith("ExecStart=")) {
                assertTrue(unit.contains("ExecStart=/opt/coracle/current/bin/coracle daemon --config /etc/coracle/coracle.toml"), unit.toString());
            } else {
                assertTrue(unit.contains(line), "unit keeps " + line);
            }
        }
        for (String kept : List.of("Type=notify", "KillMode=process", "Delegate=yes", "WantedBy=multi-user.target")) {
            assertTrue(unit.contains(kept), kept);
        }
        assertEquals(Files.readString(config), Files.readString(host.resolve("etc/coracle/coracle.toml")));
        assertEquals("# the node's own\n", Files.readString(host.resolve("etc/coracle/coracle.toml.pre-chart")));
        assertEquals(List.of("daemon-reload", "enable coracle.service", "is-active --quiet coracle.service",
                "start coracle.service"), calls());
        assertEquals(List.of("label --overwrite node node-1 coracle.io/runtime=installed"), kubectlCalls());

        // The pod restarts with nothing changed: no restart of the daemon, nothing copied again.
        run = script(image, host, config, emptyProc(), "install");
        assertEquals(0, run.exit(), run.output());
        assertEquals(List.of("daemon-reload", "enable coracle.service", "start coracle.service"), calls());
        assertEquals(List.of(id), releases(host));

        // A new release (chart upgrade): copied beside, current switched, the unit restarted, the old release removed.
        Path newer = image("1.2.4", "jar-two");
        run = script(newer, host, config, emptyProc(), "install");
        assertEquals(0, run.exit(), run.output());
        String newId = releases(host).getFirst();
        assertEquals(1, releases(host).size());
        assertTrue(newId.startsWith("1.2.4-"), newId);
        assertEquals("jar-two", Files.readString(current.resolve("lib/coracle.jar")));
        assertEquals(List.of("daemon-reload", "enable coracle.service", "is-active --quiet coracle.service",
                "restart coracle.service"), calls(), "restarted: KillMode=process keeps the containers");

        // Uninstall is refused while the kubelet uses Coracle's socket, by flag or by its config file.
        Path proc = emptyProc();
        Path kubelet = Files.createDirectories(proc.resolve("4242"));
        Files.createDirectories(kubelet.resolve("root"));
        Files.createDirectories(proc.resolve("1"));
        Files.createSymbolicLink(proc.resolve("1/root"), kubelet.resolve("root")); // the host's kubelet: PID 1's root
        Files.writeString(kubelet.resolve("cmdline"), String.join("\0", "/usr/bin/kubelet", "--v=2",
                "--container-runtime-endpoint=unix:///run/coracle/coracle.sock") + "\0");
        run = script(newer, host, config, proc, "uninstall");
        assertEquals(1, run.exit(), run.output());
        assertTrue(run.output().contains("the kubelet still uses unix:///run/coracle/coracle.sock"), run.output());
        kubectlCalls();
        assertTrue(Files.exists(host.resolve("etc/systemd/system/coracle.service")));
        assertEquals(List.of(), calls());

        Files.writeString(kubelet.resolve("cmdline"), String.join("\0", "/usr/bin/kubelet",
                "--config=/var/lib/kubelet/config.yaml") + "\0");
        Files.createDirectories(kubelet.resolve("root/var/lib/kubelet"));
        Files.writeString(kubelet.resolve("root/var/lib/kubelet/config.yaml"),
                "kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/coracle/coracle.sock\n");
        run = script(newer, host, config, proc, "uninstall");
        assertEquals(1, run.exit(), run.output());

        // Back on containerd: uninstall stops and disables the unit and removes what install wrote.
        Files.writeString(kubelet.resolve("root/var/lib/kubelet/config.yaml"),
                "kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n");
        // A pod's process that calls itself kubelet (another root) does not hold the uninstall back.
        Path impostor = Files.createDirectories(proc.resolve("777/root"));
        Files.writeString(impostor.resolveSibling("cmdline"), String.join("\0", "/usr/bin/kubelet",
                "--container-runtime-endpoint=unix:///run/coracle/coracle.sock") + "\0");
        run = script(newer, host, config, proc, "uninstall");
        assertEquals(0, run.exit(), run.output());
        assertEquals(List.of("disable --now coracle.service", "daemon-reload"), calls());
        assertEquals(List.of("label --overwrite node node-1 coracle.io/runtime-"), kubectlCalls());
        assertFalse(Files.exists(host.resolve("etc/systemd/system/coracle.service")));
        assertFalse(Files.exists(host.resolve("opt/coracle/releases")));
        assertFalse(Files.exists(current, java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertEquals("# the node's own\n", Files.readString(host.resolve("etc/coracle/coracle.toml")), "restored");
        try (Stream<Path> s = Files.list(host.resolve("etc/coracle"))) {
            assertEquals(List.of("coracle.toml"), s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void installRefusesAHostWithoutSystemdOrWithAPackagedRelease() throws Exception {
        Path config = Files.writeString(tmp.resolve("coracle.toml"), "socket = \"/run/coracle/coracle.sock\"\n");
        Path image = image("1.0.0", "jar");
        Path host = host();
        Files.delete(host.resolve("run/systemd/system"));
        Run run = script(image, host, config, emptyProc(), "install");
        assertEquals(1, run.exit(), run.output());
        assertTrue(run.output().contains("does not run systemd"), run.output());

        Files.createDirectories(host.resolve("run/systemd/system"));
        Files.createDirectories(host.resolve("opt/coracle/lib")); // the .deb's layout
        run = script(image, host, config, emptyProc(), "install");
        assertEquals(1, run.exit(), run.output());
        assertTrue(run.output().contains("installed by other means"), run.output());
        assertFalse(Files.exists(host.resolve("etc/systemd/system/coracle.service")));
        assertEquals(List.of(), calls());
    }

    @Test
    void aHostileVersionFileIsRefused() throws Exception {
        Path config = Files.writeString(tmp.resolve("coracle.toml"), "");
        Path image = image("1.0.0", "jar");
        Path host = host();
        for (String bad : List.of("../../etc", "1.0 ; rm -rf /", "")) {
            Files.writeString(image.resolve("opt/coracle/VERSION"), bad);
            Run run = script(image, host, config, emptyProc(), "install");
            assertEquals(1, run.exit(), run.output());
            assertTrue(run.output().contains("bad release version"), run.output());
        }
        assertFalse(Files.exists(host.resolve("opt/coracle/releases")));
        assertEquals(List.of(), calls());
    }
}
