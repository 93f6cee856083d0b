package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.runtime.container.DaemonCgroup;
import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ImageBuilder;
import io.coracle.testing.LocalRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The release (./coracle dist, Maven profile "dist"): the .deb installs with dpkg into a clean root made
 * here, and the daemon from it, run where no JDK, Maven repository or Maven is visible (hidden by empty
 * tmpfs mounts in a mount namespace of its own) and in a cgroup of its own, serves crictl and runs a pod,
 * including a container of the chart's image (imported with the package's `coracle images import`); then
 * every process of the daemon's cgroup is SIGKILLed, the daemon restarted, and every container is still
 * running, exec-able, with its logs and exit code.
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

        // The chart's image (Jib's buildTar), imported with the package's own CLI (the daemon is stopped).
        Path imageTar = only(Path.of(release), "-image.tar");
        System.out.printf("image: %s %d bytes%n", imageTar.getFileName(), Files.size(imageTar));

        int n = ThreadLocalRandom.current().nextInt(0x1000, 0x10000);
        String bridge = "crr" + Integer.toHexString(n);
        Path work = dir.resolve("run");
        Path socket = work.resolve("coracle.sock");
        Path coracle = root.resolve("usr/local/bin/coracle");
        try (LocalRegistry registry = LocalRegistry.start(); DaemonCgroup cgroup = DaemonCgroup.create()) {
            ImageBuilder.busybox().push(registry, "library/busybox", "latest");
            // The package's own config file, with this test's paths laid over it by a second file.
            Files.createDirectories(work);
            Path config = Files.writeString(work.resolve("coracle.toml"), isolate(
                    Files.readString(root.resolve("etc/coracle/coracle.toml")), work, bridge, n, registry.host()));
            ProcessBuilder importer = new ProcessBuilder(coracle.toString(), "images", "import", "--config", config.toString(),
                    "--root", work.resolve("root").toString(), imageTar.toString()).redirectError(ProcessBuilder.Redirect.INHERIT);
            importer.environment().put("CORACLE_CACHE_DIR", work.resolve("cache").toString());
            Process importing = importer.start();
            String imported = new String(importing.getInputStream().readAllBytes());
            assertTrue(importing.waitFor(300, TimeUnit.SECONDS));
            assertEquals(0, importing.exitValue(), imported);
            assertTrue(imported.matches("(?s)imported sha256:[0-9a-f]{64} \\S+:\\S+\n"), imported);
            String imageRef = imported.trim().split(" ")[2];

            List<String> command = daemonCommand(root, config, socket, work);
            long t0 = System.nanoTime();
            Process daemon = start(command, work, "daemon.log", cgroup);
            try {
                // Start-up: launch to the first answer of `crictl version`.
                String version;
                while (true) {
                    assertTrue(daemon.isAlive(), () -> "daemon exited: " + log(work, "daemon.log"));
                    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(120), "no answer after 120 s");
                    if (Files.exists(socket)) {
                        Process p = new ProcessBuilder(crictlArgs(socket, "version")).redirectErrorStream(true).start();
                        version = new String(p.getInputStream().readAllBytes());
                        if (p.waitFor() == 0) {
                            break;
                        }
                    }
                    Thread.sleep(10);
                }
                long startMs = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(version.contains("RuntimeName:  coracle"), version);
                Path exe = Files.readSymbolicLink(Path.of("/proc", Long.toString(daemon.pid()), "exe"));
                assertEquals(root.resolve("opt/coracle/jre/bin/java"), exe, "the daemon runs the packaged Java runtime");
                assertFalse(Files.readString(Path.of("/proc", Long.toString(daemon.pid()), "maps")).contains("/usr/lib/jvm"));
                assertTrue(List.of(Files.readString(Path.of("/proc", Long.toString(daemon.pid()), "environ")).split("\0"))
                        .contains("MALLOC_ARENA_MAX=2"), "the launcher caps glibc's malloc arenas, as ./coracle does");
                Thread.sleep(30_000); // idle
                System.out.printf("daemon from the package: start-up %d ms (launch to crictl version answering), "
                        + "idle RSS %d KiB after 30 s%n", startMs, rssKb(daemon.pid()));

                crictl(socket, "pull", "docker.io/library/busybox:latest");
                Path podJson = Files.writeString(work.resolve("pod.json"), """
                        {"metadata": {"name": "released", "namespace": "test", "uid": "released-%x"},
                         "log_directory": "%s", "linux": {}}
                        """.formatted(n, work.resolve("logs")));
                String pod = crictl(socket, "runp", podJson.toString()).trim();
                try {
                    String app = container(socket, pod, podJson, work, "app", "echo from-the-package; sleep 300");
                    String later = container(socket, pod, podJson, work, "later", "echo bye; sleep 4; exit 7");
                    String done = container(socket, pod, podJson, work, "done", "echo finished; exit 3");
                    assertEquals("hello", crictl(socket, "exec", "-s", app, "echo", "hello").trim());
                    // The chart's image runs as a container: its entrypoint is the launcher.
                    Path imageCtr = Files.writeString(work.resolve("image.json"), """
                            {"metadata": {"name": "image"}, "image": {"image": "%s"}, "args": ["version"],
                             "log_path": "image.log"}
                            """.formatted(imageRef));
                    String fromImage = crictl(socket, "create", pod, imageCtr.toString(), podJson.toString()).trim();
                    crictl(socket, "start", fromImage);
                    assertEquals("CONTAINER_EXITED 0", awaitExited(socket, fromImage), () -> logs(socket, fromImage));
                    String versionOut = crictl(socket, "logs", fromImage);
                    assertTrue(versionOut.startsWith("coracle ") && versionOut.contains("\nshim: ")
                            && !versionOut.contains("unavailable") && versionOut.contains("\nCRI API: "), versionOut);
                    System.out.println("coracle version, run from the image:\n" + versionOut);
                    assertEquals("CONTAINER_EXITED 3", awaitExited(socket, done));

                    // Systemd's stop of a control-group unit, a DaemonSet roll: SIGKILL the daemon's whole cgroup.
                    Set<Long> inCgroup = cgroup.pids();
                    assertEquals(Set.of(daemon.pid()), inCgroup, () -> "only the daemon is in its cgroup: "
                            + DaemonCgroup.describe(inCgroup));
                    List<Long> killed = cgroup.killAll();
                    assertTrue(killed.contains(daemon.pid()), killed.toString());
                    assertTrue(daemon.waitFor(30, TimeUnit.SECONDS));
                    daemon = start(command, work, "daemon-restarted.log", cgroup);
                    awaitServing(daemon, socket, work);

                    assertEquals("CONTAINER_RUNNING", state(socket, app).split(" ")[0]);
                    assertEquals("alive", crictl(socket, "exec", "-s", app, "echo", "alive").trim(), "exec after the restart");
                    assertEquals("CONTAINER_EXITED 7", awaitExited(socket, later), "exited while no daemon ran");
                    assertEquals("CONTAINER_EXITED 3", state(socket, done));
                    assertEquals("CONTAINER_EXITED 0", state(socket, fromImage));
                    assertTrue(crictl(socket, "logs", app).contains("from-the-package"));
                    assertEquals("bye", crictl(socket, "logs", later).trim());
                    assertEquals("finished", crictl(socket, "logs", done).trim());
                    assertEquals(versionOut, crictl(socket, "logs", fromImage));
                } finally {
                    crictl(socket, "rmp", "-f", pod);
                }
                daemon.destroy();
                assertTrue(daemon.waitFor(30, TimeUnit.SECONDS));
                assertEquals(0, daemon.exitValue(), () -> log(work, "daemon-restarted.log"));
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

    /** The installed launcher's daemon, where no JDK, Maven repository or Maven is visible (empty tmpfs mounts). */
    private static List<String> daemonCommand(Path root, Path config, Path socket, Path work) {
        Path hidden = Path.of(System.getProperty("user.home"), ".m2");
        String inNamespace = "mount -t tmpfs tmpfs /usr/lib/jvm && mount -t tmpfs tmpfs /usr/share/maven"
                + (Files.isDirectory(hidden) ? " && mount -t tmpfs tmpfs " + hidden : "")
                + " && exec " + root.resolve("usr/local/bin/coracle") + " daemon --config " + config
                + " --socket " + socket + " --root " + work.resolve("root") + " --state " + work.resolve("state");
        return List.of("unshare", "-m", "--propagation", "private", "sh", "-c", inNamespace);
    }

    /** Starts the daemon and moves it into its cgroup at once (before it serves, so before any shim exists). */
    private static Process start(List<String> command, Path work, String logName, DaemonCgroup cgroup) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(work.resolve(logName).toFile());
        pb.environment().put("CORACLE_CACHE_DIR", work.resolve("cache").toString());
        pb.environment().remove("MALLOC_ARENA_MAX"); // as systemd starts it: the launcher sets it
        Process daemon = pb.start();
        cgroup.enter(daemon.pid());
        return daemon;
    }

    private static void awaitServing(Process daemon, Path socket, Path work) throws Exception {
        long t0 = System.nanoTime();
        while (true) {
            assertTrue(daemon.isAlive(), () -> "daemon exited: " + log(work, "daemon-restarted.log"));
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(120), "no answer after 120 s");
            Process p = new ProcessBuilder(crictlArgs(socket, "version")).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (p.waitFor() == 0) {
                return;
            }
            Thread.sleep(50);
        }
    }

    private static String container(Path socket, String pod, Path podJson, Path work, String name, String script) throws Exception {
        Path json = Files.writeString(work.resolve(name + ".json"), """
                {"metadata": {"name": "%s"}, "image": {"image": "docker.io/library/busybox:latest"},
                 "command": ["sh", "-c", "%s"], "log_path": "%s.log"}
                """.formatted(name, script, name));
        String id = crictl(socket, "create", pod, json.toString(), podJson.toString()).trim();
        crictl(socket, "start", id);
        return id;
    }

    /** "STATE EXITCODE" of a container, as crictl inspect reports them. */
    private static String state(Path socket, String id) throws Exception {
        return crictl(socket, "inspect", "-o", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", id).trim();
    }

    private static String awaitExited(Path socket, String id) throws Exception {
        long t0 = System.nanoTime();
        String s;
        while (!(s = state(socket, id)).startsWith("CONTAINER_EXITED")) {
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(180), id + " still " + s);
            Thread.sleep(200);
        }
        return s;
    }

    private static String logs(Path socket, String id) {
        try {
            return crictl(socket, "logs", id);
        } catch (Exception e) {
            return e.toString();
        }
    }

    private static long rssKb(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")).stream()
                .filter(l -> l.startsWith("VmRSS:")).map(l -> Long.parseLong(l.replaceAll("\\D", ""))).findFirst()
                .orElse(-1L);
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
        return run(crictlArgs(socket, args));
    }

    private static List<String> crictlArgs(Path socket, String... args) {
        List<String> cmd = new ArrayList<>(List.of("crictl", "--runtime-endpoint", "unix://" + socket,
                "--image-endpoint", "unix://" + socket, "--timeout", "60s"));
        cmd.addAll(List.of(args));
        return cmd;
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

    private static String log(Path work, String name) {
        try {
            return Files.readString(work.resolve(name));
        } catch (IOException e) {
            return e.toString();
        }
    }
}
