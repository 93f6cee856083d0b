package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ImageBuilder;
import io.coracle.testing.LocalRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The release (./coracle dist, Maven profile "dist"): the .deb installs with dpkg into a clean root made
 * here, and the daemon from it, run where no JDK, Maven repository or Maven is visible (hidden by empty
 * tmpfs mounts in a mount namespace of its own), serves crictl and runs a pod.
 */
class ReleaseIT {
    @TempDir
    Path dir;

    @Test
    void theDebianPackageInstallsIntoACleanRootAndItsDaemonRunsAPod() throws Exception {
        String release = System.getProperty("coracle.release");
        Assumptions.assumeTrue(release != null && Files.isDirectory(Path.of(release)),
                "built by ./coracle dist (Maven profile dist)");
        Path deb = only(Path.of(release), ".deb");
        Path tarball = only(Path.of(release), ".tar.gz");
        System.out.printf("release: %s %d bytes, %s %d bytes%n", tarball.getFileName(), Files.size(tarball),
                deb.getFileName(), Files.size(deb));

        // dpkg into an empty root: its own database; maintainer scripts run with $DPKG_ROOT.
        Path root = dir.resolve("root");
        Files.createDirectories(root.resolve("var/lib/dpkg/info"));
        Files.createDirectories(root.resolve("var/lib/dpkg/updates"));
        Files.createFile(root.resolve("var/lib/dpkg/status"));
        run(List.of("dpkg", "--root=" + root, "--force-script-chrootless", "-i", deb.toString()));
        assertTrue(run(List.of("dpkg", "--root=" + root, "-s", "coracle")).contains("Status: install ok installed"));
        assertEquals("/etc/coracle/coracle.toml", Files.readString(root.resolve("var/lib/dpkg/info/coracle.conffiles")).trim());
        assertEquals(Path.of("/lib/systemd/system/coracle.service"),
                Files.readSymbolicLink(root.resolve("etc/systemd/system/multi-user.target.wants/coracle.service")),
                "postinst enables the unit");
        assertTrue(Files.isRegularFile(root.resolve("lib/systemd/system/coracle.service")));
        assertTrue(Files.isExecutable(root.resolve("usr/local/bin/coracle")));
        for (String program : List.of("coracle-shim", "coracle-pause")) {
            assertTrue(run(List.of("file", "-L", root.resolve("opt/coracle/libexec/" + program).toString()))
                    .contains("statically linked"), program + " is static");
        }

        int n = ThreadLocalRandom.current().nextInt(0x1000, 0x10000);
        String bridge = "crr" + Integer.toHexString(n);
        Path work = dir.resolve("run");
        Path socket = work.resolve("coracle.sock");
        try (LocalRegistry registry = LocalRegistry.start()) {
            ImageBuilder.busybox().push(registry, "library/busybox", "latest");
            // The package's own config file, with this test's paths laid over it by a second file.
            Files.createDirectories(work);
            Path config = Files.writeString(work.resolve("coracle.toml"), isolate(
                    Files.readString(root.resolve("etc/coracle/coracle.toml")), work, bridge, n, registry.host()));

            Path hidden = Path.of(System.getProperty("user.home"), ".m2");
            String inNamespace = "mount -t tmpfs tmpfs /usr/lib/jvm && mount -t tmpfs tmpfs /usr/share/maven"
                    + (Files.isDirectory(hidden) ? " && mount -t tmpfs tmpfs " + hidden : "")
                    + " && exec " + root.resolve("usr/local/bin/coracle") + " daemon --config " + config
                    + " --socket " + socket + " --root " + work.resolve("root") + " --state " + work.resolve("state");
            ProcessBuilder pb = new ProcessBuilder("unshare", "-m", "--propagation", "private", "sh", "-c", inNamespace)
                    .redirectErrorStream(true).redirectOutput(work.resolve("daemon.log").toFile());
            pb.environment().put("CORACLE_CACHE_DIR", work.resolve("cache").toString());
            long t0 = System.nanoTime();
            Process daemon = pb.start();
            try {
                while (!Files.exists(socket)) {
                    assertTrue(daemon.isAlive(), () -> "daemon exited: " + log(work));
                    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(120), "no socket after 120 s");
                    Thread.sleep(10);
                }
                long startMs = (System.nanoTime() - t0) / 1_000_000;
                Path exe = Files.readSymbolicLink(Path.of("/proc", Long.toString(daemon.pid()), "exe"));
                assertEquals(root.resolve("opt/coracle/jre/bin/java"), exe, "the daemon runs the packaged Java runtime");
                assertFalse(Files.readString(Path.of("/proc", Long.toString(daemon.pid()), "maps")).contains("/usr/lib/jvm"));

                String version = crictl(socket, "version");
                assertTrue(version.contains("RuntimeName:  coracle"), version);
                Thread.sleep(3000); // idle
                long rssKb = Files.readAllLines(Path.of("/proc", Long.toString(daemon.pid()), "status")).stream()
                        .filter(l -> l.startsWith("VmRSS:")).map(l -> Long.parseLong(l.replaceAll("\\D", ""))).findFirst()
                        .orElse(-1L);
                System.out.printf("daemon from the package: start-up %d ms (launch to socket), idle RSS %d KiB%n",
                        startMs, rssKb);

                crictl(socket, "pull", "docker.io/library/busybox:latest");
                Path podJson = Files.writeString(work.resolve("pod.json"), """
                        {"metadata": {"name": "released", "namespace": "test", "uid": "released-%x"},
                         "log_directory": "%s", "linux": {}}
                        """.formatted(n, work.resolve("logs")));
                Path ctrJson = Files.writeString(work.resolve("ctr.json"), """
                        {"metadata": {"name": "app"}, "image": {"image": "docker.io/library/busybox:latest"},
                         "command": ["sh", "-c", "echo from-the-package; sleep 300"], "log_path": "app.log"}
                        """);
                String pod = crictl(socket, "runp", podJson.toString()).trim();
                try {
                    String ctr = crictl(socket, "create", pod, ctrJson.toString(), podJson.toString()).trim();
                    crictl(socket, "start", ctr);
                    assertEquals("hello", crictl(socket, "exec", "-s", ctr, "echo", "hello").trim());
                    assertTrue(crictl(socket, "logs", ctr).contains("from-the-package"));
                } finally {
                    crictl(socket, "rmp", "-f", pod);
                }
                daemon.destroy();
                assertTrue(daemon.waitFor(30, TimeUnit.SECONDS));
                assertEquals(0, daemon.exitValue(), () -> log(work));
            } finally {
                daemon.destroyForcibly().waitFor();
                new ProcessBuilder("ip", "link", "del", bridge).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
                DaemonProcess.deleteTree(Path.of("/var/lib/cni/networks", bridge));
                try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
                    for (Path h : hierarchies.toList()) {
                        Files.deleteIfExists(h.resolve("coracle-test-" + bridge));
                    }
                } catch (IOException e) {
                    // reported by the leak checks
                }
            }
        }
    }

    /** The packaged config with this test's CNI dir, bridge, subnet, cgroup parent, metrics port and mirror. */
    private static String isolate(String packaged, Path work, String bridge, int n, String registry) {
        return "cgroup_parent = \"/coracle-test-" + bridge + "\"\n" + packaged
                .replace("[cni]\n", "[cni]\ndefault_network = true\nconf_dir = \"" + work.resolve("cni") + "\"\ndefault_bridge = \"" + bridge
                        + "\"\ndefault_subnet = \"10." + (214 + n % 8) + "." + (n % 250) + ".0/24\"\n")
                .replace("[metrics]\n", "[metrics]\nport = 0\n")
                + "\n[registry.mirrors.\"docker.io\"]\nendpoints = [\"http://" + registry + "\"]\n";
    }

    private static String crictl(Path socket, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("crictl", "--runtime-endpoint", "unix://" + socket,
                "--image-endpoint", "unix://" + socket, "--timeout", "60s"));
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    private static String run(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.PIPE).start();
        String out = new String(p.getInputStream().readAllBytes());
        String err = new String(p.getErrorStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", cmd) + " timed out");
        assertEquals(0, p.exitValue(), () -> String.join(" ", cmd) + " failed: " + out + err);
        return out;
    }

    private static Path only(Path dir, String suffix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> found = s.filter(p -> p.getFileName().toString().endsWith(suffix)).toList();
            assertEquals(1, found.size(), "one " + suffix + " in " + dir + ": " + found);
            return found.get(0);
        }
    }

    private static String log(Path work) {
        try {
            return Files.readString(work.resolve("daemon.log"));
        } catch (IOException e) {
            return e.toString();
        }
    }
}
