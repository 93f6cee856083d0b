package io.coracle.runtime.crash;

import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ImageBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A {@link CriTestbed} whose pod network the test writes itself (the daemon's default network may not
 * exist): its own bridge, subnet and host-local IPAM data dir under the test dir, and a CNI bin dir
 * that puts a fault-injecting wrapper before the real plugins. Knows how to look for leftovers.
 */
final class CrashBed implements AutoCloseable {
    final CriTestbed bed;
    final Path dir;
    final String bridge;
    final Path ipamDir;
    final Path faultFile;

    private CrashBed(CriTestbed bed, Path dir, String bridge, Path ipamDir, Path faultFile) {
        this.bed = bed;
        this.dir = dir;
        this.bridge = bridge;
        this.ipamDir = ipamDir;
        this.faultFile = faultFile;
    }

    /** {@code extraToml} goes inside the daemon's [cni] table (the config's last table) unless it opens its own. */
    static CrashBed start(String extraToml) throws Exception {
        return start(extraToml, 0);
    }

    /** As {@link #start(String)}, with the daemon's root on a tmpfs of {@code rootTmpfsBytes} (0: none), to fill up. */
    static CrashBed start(String extraToml, long rootTmpfsBytes) throws Exception {
        Path dir = Files.createTempDirectory("coracle-crash-");
        if (rootTmpfsBytes > 0) {
            Path root = Files.createDirectories(dir.resolve("root"));
            run("mount", "-t", "tmpfs", "-o", "size=" + rootTmpfsBytes + ",mode=0700", "tmpfs", root.toString());
        }
        int n = ThreadLocalRandom.current().nextInt(0x1000, 0x10000);
        String bridge = "crs" + Integer.toHexString(n);
        Path ipamDir = dir.resolve("ipam");
        Path bin = Files.createDirectories(dir.resolve("cni-bin"));
        Path faultFile = dir.resolve("cni-fault");
        // The bridge plugin goes through the wrapper, which reads the fault to inject from faultFile.
        Path wrapper = bin.resolve("faulty-bridge");
        try (var in = CrashBed.class.getResourceAsStream("/faulty-cni.sh")) {
            Files.write(wrapper, in.readAllBytes());
        }
        wrapper.toFile().setExecutable(true, true);
        Files.createDirectories(dir.resolve("cni"));
        Files.writeString(dir.resolve("cni/10-crash.conflist"), """
                {
                  "cniVersion": "1.0.0",
                  "name": "%s",
                  "plugins": [
                    {
                      "type": "faulty-bridge",
                      "faultFile": "%s",
                      "bridge": "%s",
                      "isGateway": true,
                      "ipam": {
                        "type": "host-local",
                        "dataDir": "%s",
                        "ranges": [[{"subnet": "10.%d.%d.0/24"}]]
                      }
                    }
                  ]
                }
                """.formatted(bridge, faultFile, bridge, ipamDir, 230 + n % 8, n % 250));
        List<String> binDirs = new ArrayList<>(List.of(bin.toString(), "/usr/lib/cni", "/opt/cni/bin"));
        String cni = "bin_dirs = [" + String.join(", ", binDirs.stream().map(s -> "\"" + s + "\"").toList()) + "]\n";
        CriTestbed bed = CriTestbed.start(dir, cni + extraToml);
        return new CrashBed(bed, dir, bridge, ipamDir, faultFile);
    }

    DaemonProcess daemon() {
        return bed.daemon;
    }

    /** SIGKILL now (no graceful client shutdown first), then a new daemon on the same paths. */
    void killAndRestart() throws Exception {
        DaemonProcess old = bed.daemon;
        old.process().destroyForcibly().waitFor();
        old.kill9(); // closes the old client
        bed.daemon = old.relaunch();
        bed.daemon.awaitServing(Duration.ofSeconds(60));
    }

    /** What {@code crictl rmp -fa} does: stop and remove every listed pod. Returns the errors it met. */
    List<String> removeAllPods() {
        List<String> errors = new ArrayList<>();
        var rt = bed.runtime().withDeadlineAfter(2, java.util.concurrent.TimeUnit.MINUTES); // a loaded machine is slow
        for (var p : rt.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            try {
                rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
            } catch (RuntimeException e) {
                errors.add("rmp " + p.getId().substring(0, 12) + ": " + e.getMessage());
            }
        }
        int containers = rt.listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount();
        if (containers > 0) {
            errors.add(containers + " container(s) listed with no pod left");
        }
        return errors;
    }

    List<String> leaks() throws IOException, InterruptedException {
        return new HostLeaks(dir, bed.cgroupParent(), bridge, ipamDir).find();
    }

    void fault(String what) throws IOException {
        if (what == null) {
            Files.deleteIfExists(faultFile);
        } else {
            Files.writeString(faultFile, what);
        }
    }

    /**
     * Pushes {@code repo}:1 to the test's registry (the daemon's docker.io mirror): busybox under
     * {@code layers} layers of {@code mib} MiB of random bytes in all (seeded: the same digests every
     * run), layer i holding the file /layer<i>.
     */
    void pushLayeredImage(String repo, int mib, int layers) throws Exception {
        java.util.Random bytes = new java.util.Random(42);
        List<ImageBuilder> upper = new ArrayList<>();
        for (int i = 0; i < layers; i++) {
            byte[] data = new byte[(mib << 20) / layers];
            bytes.nextBytes(data);
            upper.add(new ImageBuilder().file("layer" + i, 0644, data));
        }
        ImageBuilder.busybox().push(bed.registry, repo, upper, "1");
    }

    static int run(String... command) throws IOException, InterruptedException {
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start().waitFor();
    }

    @Override
    public void close() throws Exception {
        Path root = dir.resolve("root");
        boolean tmpfsRoot = Files.readString(Path.of("/proc/self/mountinfo")).contains(" " + root + " ");
        try {
            bed.close();
        } catch (IOException e) {
            if (!tmpfsRoot) {
                throw e; // with a tmpfs root, the tree's deletion stops at its mount point: finished below
            }
        } finally {
            run("ip", "link", "del", bridge);
            if (tmpfsRoot) {
                run("umount", root.toString());
                DaemonProcess.deleteTree(dir);
            }
        }
    }
}
