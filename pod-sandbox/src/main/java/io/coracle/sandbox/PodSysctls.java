package io.coracle.sandbox;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Pod-level sysctls: only namespaced ones (net.* in the pod's network namespace; kernel.shm*,
 * kernel.msg*, kernel.sem, fs.mqueue.* in its IPC namespace). Applied by nsenter into the pause
 * process's namespaces, since /proc/sys/{net,kernel} follow the writer's namespaces.
 */
final class PodSysctls {
    private static final Pattern NAME = Pattern.compile(
            "[a-z0-9]([-_a-z0-9]*[a-z0-9])?([./][a-z0-9]([-_a-z0-9]*[a-z0-9])?)*");

    private PodSysctls() {}

    /** Checks names, values and namespaces; returns /proc/sys relative paths → values. */
    static Map<String, String> validate(Map<String, String> sysctls, boolean hostNetwork, boolean hostIpc) {
        Map<String, String> out = new TreeMap<>();
        for (Map.Entry<String, String> e : sysctls.entrySet()) {
            String name = e.getKey(), value = e.getValue();
            if (!NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("sysctl '" + name + "' is not a valid sysctl name");
            }
            if (value.isEmpty() || value.contains("\n")) {
                throw new IllegalArgumentException("sysctl '" + name + "' has an invalid value '" + value + "'");
            }
            // A name with '/' separators uses '.' literally inside components (kubelet convention).
            String dotted = name.contains("/") ? name.replace(".", "\u0000").replace('/', '.') : name;
            String path = dotted.replace('.', '/').replace('\u0000', '.');
            String top = dotted.replace('\u0000', '.');
            boolean ipc = top.startsWith("kernel.shm") || top.startsWith("kernel.msg") || top.equals("kernel.sem")
                    || top.startsWith("fs.mqueue.");
            boolean net = top.startsWith("net.");
            if (!ipc && !net) {
                throw new IllegalArgumentException("sysctl '" + name + "' is not namespaced: only net.*, kernel.shm*, "
                        + "kernel.msg*, kernel.sem and fs.mqueue.* can be set for a pod");
            }
            if (net && hostNetwork) {
                throw new IllegalArgumentException("sysctl '" + name + "' needs the pod's own network namespace, "
                        + "but the pod uses the host network");
            }
            if (ipc && hostIpc) {
                throw new IllegalArgumentException("sysctl '" + name + "' needs the pod's own IPC namespace, "
                        + "but the pod uses the host IPC namespace");
            }
            out.put(path, value);
        }
        return out;
    }

    /** Writes the values inside the pause process's network and IPC namespaces. */
    static void apply(int pausePid, boolean hostNetwork, boolean hostIpc, Map<String, String> paths) throws IOException {
        if (paths.isEmpty()) {
            return;
        }
        List<String> cmd = new ArrayList<>(List.of("nsenter", "--target", String.valueOf(pausePid)));
        if (!hostNetwork) {
            cmd.add("--net");
        }
        if (!hostIpc) {
            cmd.add("--ipc");
        }
        cmd.addAll(List.of("--", "/bin/sh", "-c",
                "while [ $# -gt 0 ]; do printf '%s' \"$2\" > \"/proc/sys/$1\" || exit 1; shift 2; done", "sh"));
        paths.forEach((k, v) -> {
            cmd.add(k);
            cmd.add(v);
        });
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("setting sysctls timed out");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while setting sysctls", e);
        }
        if (p.exitValue() != 0) {
            throw new IllegalArgumentException("setting sysctls " + paths + " failed: " + out.replace("\n", "; "));
        }
    }
}
