package io.coracle.critest;

import io.coracle.testing.DaemonProcess;
import io.coracle.testing.LocalRegistry;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs the upstream CRI validation suite against Coracle: a local registry with the suite's images
 * built here, a daemon whose mirrors for registry.k8s.io and gcr.io point at it (own socket, root,
 * CNI dir, bridge and cgroup parent), then {@code critest} from PATH. Prints passed/failed/skipped.
 * Extra arguments go to critest (e.g. {@code --ginkgo.focus=...}). Exit code: critest's, or 0 with
 * a message when no critest is installed.
 */
public final class CritestRunner {
    /** The digest-pinned upstream image cannot be rebuilt here: its spec is skipped. */
    static final String SKIP = "public image with digest should be pulled and removed";

    public static void main(String[] args) throws Exception {
        Path critest = onPath("critest");
        if (critest == null) {
            System.out.println("critest: SKIPPED: no critest on PATH (build it from kubernetes-sigs/cri-tools: "
                    + "go test -c ./cmd/critest)");
            return;
        }
        // Passable by others (0711, never listable): runc and crun mount a user-namespaced pod's rootfs
        // from inside its user namespace, under the daemon's state dir, as under /run/coracle.
        Path work = Files.createTempDirectory("coracle-critest-", java.nio.file.attribute.PosixFilePermissions
                .asFileAttribute(java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x")));
        int code;
        try (LocalRegistry registry = LocalRegistry.start()) {
            System.out.println("critest: building and pushing test images to " + registry.host());
            new CritestImages(registry, work).pushAll();
            Path daemonDir = Files.createDirectories(work.resolve("daemon"));
            try (DaemonProcess daemon = DaemonProcess.launchWith(daemonDir, """
                    [registry.mirrors."registry.k8s.io"]
                    endpoints = ["http://%s"]
                    [registry.mirrors."gcr.io"]
                    endpoints = ["http://%s"]
                    """.formatted(registry.host(), registry.host()) + runtimes(), "--log-level", "info")) {
                daemon.awaitServing(Duration.ofSeconds(30));
                String endpoint = "unix://" + daemon.socket();
                List<String> cmd = new ArrayList<>(List.of(critest.toString(), "-runtime-endpoint", endpoint,
                        "-image-endpoint", endpoint, "--ginkgo.no-color", "--ginkgo.skip=" + SKIP));
                cmd.addAll(List.of(args));
                code = run(cmd);
                Files.writeString(Path.of(System.getProperty("java.io.tmpdir"), "coracle-critest-daemon.log"),
                        daemon.logText());
            }
        } finally {
            DaemonProcess.deleteTree(work);
        }
        System.exit(code);
    }

    /** Runs critest, echoing its output, and prints the summary it ends with. */
    private static int run(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Pattern summary = Pattern.compile("(\\d+) Passed \\| (\\d+) Failed \\| (\\d+) Pending \\| (\\d+) Skipped");
        String result = null;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                System.out.println(line);
                Matcher m = summary.matcher(line);
                if (m.find()) {
                    result = "critest: " + m.group(1) + " passed, " + m.group(2) + " failed, " + m.group(4) + " skipped";
                }
            }
        }
        int code = p.waitFor();
        System.out.println(result != null ? result : "critest: exited " + code + " without a summary");
        return code;
    }

    /** runc and crun as runtime handlers when installed, for {@code -runtime-handler runc}. */
    private static String runtimes() {
        StringBuilder toml = new StringBuilder();
        for (String name : List.of("runc", "crun")) {
            Path p = onPath(name);
            if (p != null) {
                toml.append("[runtimes.").append(name).append("]\npath = \"").append(p).append("\"\n");
            }
        }
        return toml.toString();
    }

    private static Path onPath(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }
}
