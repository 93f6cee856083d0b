package io.coracle.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.coracle.cri.v1.PortMapping;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs CNI plugins for a pod (CNI spec: env CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
 * CNI_ARGS, CNI_PATH; the network config on stdin). ADD chains the list's plugins with prevResult,
 * DEL runs them in reverse with the cached ADD result.
 */
final class CniNetwork {
    static final String IFNAME = "eth0";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(CniNetwork.class.getName());

    private final CniConfigLoader loader;
    /** Wall time of the last add() or del() on this thread (for the benchmark's breakdown). */
    static final ThreadLocal<Long> LAST_CALL_NANOS = ThreadLocal.withInitial(() -> 0L);

    /** How long one plugin call may take; then it (and what it started) is killed and the call fails. */
    volatile java.time.Duration pluginTimeout = java.time.Duration.ofSeconds(120);

    /** Where add() and del() report their wall time. */
    volatile CniTimings timings = CniTimings.NONE;

    CniNetwork(CniConfigLoader loader) {
        this.loader = loader;
    }

    /** Who the pod is, for CNI_ARGS and the container id. */
    record PodRef(String sandboxId, String name, String namespace, String uid) {
        String cniArgs() {
            return "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + namespace + ";K8S_POD_NAME=" + name
                    + ";K8S_POD_INFRA_CONTAINER_ID=" + sandboxId + ";K8S_POD_UID=" + uid;
        }
    }

    /** The outcome of ADD: the raw result (for DEL/CHECK) and the pod's addresses, primary first. */
    record Attachment(String resultJson, List<String> ips) {}

    /** A plugin that failed: its CNI error code and message. */
    static final class PluginException extends IOException {
        PluginException(String message) {
            super(message);
        }
    }

    /** Brings up lo in the pod (loopback plugin) and attaches eth0 through the network list. */
    Attachment add(CniConfigLoader.NetworkList net, PodRef pod, Path netns, List<PortMapping> ports) throws IOException {
        long t0 = System.nanoTime();
        boolean ok = false;
        try {
            Attachment a = addTimed(net, pod, netns, ports);
            ok = true;
            return a;
        } finally {
            report("ADD", t0, ok);
        }
    }

    private Attachment addTimed(CniConfigLoader.NetworkList net, PodRef pod, Path netns, List<PortMapping> ports)
            throws IOException {
        CompletableFuture<Void> lo = CompletableFuture.runAsync(() -> {
            try {
                ObjectNode conf = JSON.createObjectNode().put("cniVersion", net.cniVersion()).put("name", "cni-loopback")
                        .put("type", "loopback");
                exec("ADD", "loopback", conf, pod, netns, "lo");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, VirtualThreads.EXECUTOR);
        JsonNode prev = null;
        for (ObjectNode plugin : net.plugins()) {
            prev = exec("ADD", net, plugin, prev, pod, netns, ports);
        }
        try {
            lo.join();
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof java.io.UncheckedIOException u ? u.getCause()
                    : new IOException("loopback: " + e.getCause(), e.getCause());
        }
        if (prev == null) {
            throw new IOException("network " + net.name() + " returned no result");
        }
        return new Attachment(prev.toString(), ips(prev));
    }

    /** DEL in reverse order; each plugin gets the cached ADD result. All are tried; the first failure is thrown. */
    void del(CniConfigLoader.NetworkList net, PodRef pod, Path netns, List<PortMapping> ports, String resultJson)
            throws IOException {
        long t0 = System.nanoTime();
        boolean ok = false;
        try {
            delTimed(net, pod, netns, ports, resultJson);
            ok = true;
        } finally {
            report("DEL", t0, ok);
        }
    }

    private void report(String op, long t0, boolean ok) {
        long took = System.nanoTime() - t0;
        LAST_CALL_NANOS.set(took);
        try {
            timings.observe(op, java.time.Duration.ofNanos(took), ok);
        } catch (RuntimeException e) {
            LOG.warning("cni: timings listener failed: " + e);
        }
    }

    private void delTimed(CniConfigLoader.NetworkList net, PodRef pod, Path netns, List<PortMapping> ports, String resultJson)
            throws IOException {
        JsonNode prev = resultJson == null || resultJson.isEmpty() ? null : JSON.readTree(resultJson);
        List<ObjectNode> reversed = new ArrayList<>(net.plugins());
        java.util.Collections.reverse(reversed);
        IOException first = null;
        for (ObjectNode plugin : reversed) {
            try {
                exec("DEL", net, plugin, prev, pod, netns, ports);
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    private JsonNode exec(String command, CniConfigLoader.NetworkList net, ObjectNode plugin, JsonNode prev, PodRef pod,
                          Path netns, List<PortMapping> ports) throws IOException {
        ObjectNode conf = plugin.deepCopy();
        conf.put("cniVersion", net.cniVersion());
        conf.put("name", net.name());
        if (prev != null) {
            conf.set("prevResult", prev);
        }
        JsonNode caps = plugin.path("capabilities");
        if (caps.path("portMappings").asBoolean(false) && !ports.isEmpty()) {
            ArrayNode pm = JSON.createArrayNode();
            for (PortMapping p : ports) {
                ObjectNode m = pm.addObject();
                m.put("hostPort", p.getHostPort()).put("containerPort", p.getContainerPort())
                        .put("protocol", p.getProtocol().name().toLowerCase());
                if (!p.getHostIp().isEmpty()) {
                    m.put("hostIP", p.getHostIp());
                }
            }
            conf.putObject("runtimeConfig").set("portMappings", pm);
        }
        conf.remove("capabilities");
        JsonNode out = exec(command, plugin.get("type").asText(), conf, pod, netns, IFNAME);
        // DEL and CHECK return nothing; ADD's result becomes the next plugin's prevResult.
        return command.equals("ADD") ? out : prev;
    }

    private JsonNode exec(String command, String type, ObjectNode conf, PodRef pod, Path netns, String ifname)
            throws IOException {
        Path bin = loader.plugin(type);
        long t0 = System.nanoTime();
        ProcessBuilder pb = new ProcessBuilder(bin.toString());
        Map<String, String> env = pb.environment();
        env.clear();
        env.put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        env.put("CNI_COMMAND", command);
        env.put("CNI_CONTAINERID", pod.sandboxId());
        env.put("CNI_NETNS", netns == null ? "" : netns.toString());
        env.put("CNI_IFNAME", ifname);
        env.put("CNI_ARGS", pod.cniArgs());
        env.put("CNI_PATH", loader.cniPath());
        pb.redirectError(ProcessBuilder.Redirect.PIPE);
        Process p = pb.start();
        // Both pipes are read aside: a hanging plugin (or a child of it holding its stdout) must not
        // block past the timeout. Bounded: a plugin's answer is small.
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()), VirtualThreads.EXECUTOR);
        CompletableFuture<byte[]> outFuture = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()), VirtualThreads.EXECUTOR);
        long timeoutMs = pluginTimeout.toMillis();
        byte[] stdout;
        try {
            try (OutputStream in = p.getOutputStream()) {
                in.write(conf.toString().getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                // the plugin exited without reading its config: its exit status says why
            }
            if (!p.waitFor(timeoutMs, TimeUnit.MILLISECONDS)) {
                kill(p);
                throw new PluginException("CNI " + command + " " + type + ": no answer within " + pluginTimeout.toSeconds()
                        + " s; the plugin was killed");
            }
            stdout = outFuture.get(Math.max(1000, timeoutMs), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            kill(p);
            throw new PluginException("CNI " + command + " " + type + ": its output did not end within "
                    + pluginTimeout.toSeconds() + " s of its exit (a child holds it open)");
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IOException("CNI " + command + " " + type + ": reading its answer: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            kill(p);
            Thread.currentThread().interrupt();
            throw new IOException("interrupted during CNI " + command + " " + type, e);
        }
        String out = new String(stdout, StandardCharsets.UTF_8).trim();
        LOG.fine(() -> "sandbox " + SandboxEnvironment.shortId(pod.sandboxId()) + ": CNI " + command + " " + type + " "
                + ifname + " exit " + p.exitValue() + " in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        if (p.exitValue() != 0) {
            String msg = out;
            try {
                JsonNode e = JSON.readTree(out);
                if (e != null && e.has("msg")) {
                    msg = e.get("msg").asText() + (e.hasNonNull("details") && !e.get("details").asText().isEmpty()
                            ? ": " + e.get("details").asText() : "") + " (code " + e.path("code").asInt() + ")";
                }
            } catch (IOException notJson) {
                // keep the raw output
            }
            String stderr = new String(err.completeOnTimeout(new byte[0], 1, TimeUnit.SECONDS).join(), StandardCharsets.UTF_8).trim();
            throw new PluginException("CNI " + command + " " + type + " failed: "
                    + (msg.isEmpty() ? stderr.isEmpty() ? "exit " + p.exitValue() : stderr : msg));
        }
        if (!command.equals("ADD") || out.isEmpty()) {
            return null;
        }
        return JSON.readTree(out);
    }

    /** A CNI answer larger than this is not a CNI answer. */
    private static final int MAX_OUTPUT = 4 << 20;

    private static byte[] readAll(InputStream in) {
        try (in) {
            byte[] b = in.readNBytes(MAX_OUTPUT);
            in.transferTo(OutputStream.nullOutputStream()); // drain the rest, so the plugin is never blocked
            return b;
        } catch (IOException e) {
            return new byte[0];
        }
    }

    /** SIGKILL to the plugin and every process it started. */
    private static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }

    /** The pod's addresses from a CNI result: those on interfaces inside the pod (or without one), IPv4 first. */
    static List<String> ips(JsonNode result) {
        JsonNode ifaces = result.path("interfaces");
        List<String> v4 = new ArrayList<>(), v6 = new ArrayList<>();
        for (JsonNode ip : result.path("ips")) {
            if (ip.has("interface")) {
                JsonNode iface = ifaces.path(ip.get("interface").asInt());
                if (iface.path("sandbox").asText("").isEmpty() && !iface.isMissingNode()) {
                    continue; // a host-side interface
                }
            }
            String addr = ip.path("address").asText("");
            int slash = addr.indexOf('/');
            String bare = slash < 0 ? addr : addr.substring(0, slash);
            if (!bare.isEmpty()) {
                (bare.contains(":") ? v6 : v4).add(bare);
            }
        }
        List<String> all = new ArrayList<>(v4);
        all.addAll(v6);
        return all;
    }
}
