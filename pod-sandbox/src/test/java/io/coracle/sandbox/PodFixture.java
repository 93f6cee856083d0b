package io.coracle.sandbox;

import io.coracle.cri.v1.DNSConfig;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.sys.NativePrograms;
import io.coracle.testing.DaemonProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A test's private world: temp root/state dirs, its own CNI conf dir with a unique bridge and
 * /24 subnet, and a cgroup parent containing "coracle-test". close() removes every pod and
 * whatever the plugins leave by design (the bridge, host-local's dir).
 */
final class PodFixture implements AutoCloseable {
    final Path tmp;
    final String bridge;
    final String subnetPrefix; // "10.200.N."
    final String cgroupRoot;   // "/coracle-test-XXXX"
    final SandboxConfig config;
    SandboxService service;

    PodFixture() throws IOException {
        this(null);
    }

    PodFixture(List<Path> extraBinDirs) throws IOException {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        String tag = Integer.toHexString(r.nextInt(0x100000, 0xffffff));
        tmp = Files.createTempDirectory("coracle-test-pod-");
        bridge = "crtest" + tag; // 12 characters
        int third = r.nextInt(1, 255);
        subnetPrefix = "10.200." + third + ".";
        cgroupRoot = "/coracle-test-" + tag;
        List<Path> bins = new ArrayList<>();
        if (extraBinDirs != null) {
            bins.addAll(extraBinDirs);
        }
        bins.addAll(SandboxConfig.DEFAULT_CNI_BIN_DIRS);
        config = SandboxConfig.defaults(tmp.resolve("state"), tmp.resolve("root"), NativePrograms.locate().pause())
                .withCniBinDirs(bins).withCni(tmp.resolve("net.d"), bridge, subnetPrefix + "0/24")
                .withCgroups(SandboxConfig.CgroupDriver.CGROUPFS, cgroupRoot);
        service = new SandboxService(config);
        service.recover();
    }

    /** A pod config with unique metadata, pod networking and the test's cgroup parent. */
    static PodSandboxConfig.Builder pod(String name) {
        String uid = "uid-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("coracle-test").setUid(uid).setAttempt(0))
                .setHostname(name)
                .setLogDirectory("/tmp/coracle-test-logs/" + uid)
                .putLabels("app", name)
                .putAnnotations("note", "test pod " + name);
    }

    PodSandboxConfig.Builder podWithParent(String name) {
        PodSandboxConfig.Builder b = pod(name);
        b.setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent(cgroupRoot + "/pod-" + name));
        return b;
    }

    static PodSandboxConfig.Builder namespaces(PodSandboxConfig.Builder b, NamespaceMode net, NamespaceMode pid, NamespaceMode ipc) {
        b.getLinuxBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(net).setPid(pid).setIpc(ipc)));
        return b;
    }

    static DNSConfig dns(List<String> servers, List<String> searches, List<String> options) {
        return DNSConfig.newBuilder().addAllServers(servers).addAllSearches(searches).addAllOptions(options).build();
    }

    String run(PodSandboxConfig.Builder b) {
        return service.run(RunPodSandboxRequest.newBuilder().setConfig(b).build()).getPodSandboxId();
    }

    Sandbox get(String id) {
        return service.store().get(id).orElseThrow();
    }

    /** Runs a command; returns exit code and combined output. */
    record Result(int code, String out) {}

    static Result exec(long timeoutSeconds, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[][] out = new byte[1][];
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                out[0] = p.getInputStream().readAllBytes();
            } catch (IOException e) {
                out[0] = new byte[0];
            }
        });
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor();
        }
        reader.join();
        return new Result(p.exitValue(), new String(out[0], StandardCharsets.UTF_8));
    }

    static String sh(String... cmd) throws IOException, InterruptedException {
        Result r = exec(30, cmd);
        if (r.code != 0) {
            throw new IOException(String.join(" ", cmd) + " exited " + r.code + ": " + r.out);
        }
        return r.out;
    }

    static final boolean V2 = Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"));

    /** A cgroup's file: under the controller's hierarchy on v1, in the cgroup's one directory on v2. */
    static Path cgroupFile(String controller, String cgroup, String file) {
        return V2 ? Path.of("/sys/fs/cgroup", cgroup, file) : Path.of("/sys/fs/cgroup", controller, cgroup, file);
    }

    /** Where a cgroup could be: each of these v1 hierarchies, or the one v2 directory. */
    static List<Path> cgroupDirs(String cgroup, String... hierarchies) {
        return V2 ? List.of(Path.of("/sys/fs/cgroup", cgroup))
                : Stream.of(hierarchies).map(h -> Path.of("/sys/fs/cgroup", h, cgroup)).toList();
    }

    /** Lines of the host's state that mention s (mounts, iptables, veths on the bridge, cgroups, processes). */
    List<String> traces(Sandbox s) throws IOException, InterruptedException {
        List<String> found = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            if (line.contains(s.id())) {
                found.add("mount: " + line);
            }
        }
        for (String line : sh("iptables-save").split("\n")) {
            if (line.contains(s.id())) {
                found.add("iptables: " + line);
            }
        }
        if (s.cniResult() != null) {
            for (var iface : new com.fasterxml.jackson.databind.ObjectMapper().readTree(s.cniResult()).path("interfaces")) {
                String name = iface.path("name").asText();
                if (iface.path("sandbox").asText("").isEmpty() && name.startsWith("veth")
                        && Files.exists(Path.of("/sys/class/net", name))) {
                    found.add("veth: " + name);
                }
            }
        }
        for (String cg : List.of(s.pauseCgroup(), s.cgroupParent())) {
            for (Path d : cgroupDirs(cg, "cpu", "memory", "pids", "systemd", "unified")) {
                if (Files.isDirectory(d) && (s.cgroupCreatedFrom() != null && cg.startsWith(s.cgroupCreatedFrom()))) {
                    found.add("cgroup: " + d);
                }
            }
        }
        if (s.pause().alive()) {
            found.add("process: pause " + s.pausePid());
        }
        if (Files.exists(s.podDir())) {
            found.add("dir: " + s.podDir());
        }
        if (Files.exists(config.rootDir().resolve(s.id()))) {
            found.add("record: " + config.rootDir().resolve(s.id()));
        }
        return found;
    }

    @Override
    public void close() throws Exception {
        for (Sandbox s : service.store().all()) {
            try {
                service.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.id()).build());
            } catch (RuntimeException e) {
                System.err.println("cleanup of " + s.id() + ": " + e);
            }
        }
        exec(10, "ip", "link", "del", bridge);
        String net = bridge;
        DaemonProcess.deleteTree(Path.of("/var/lib/cni/networks", net));
        for (Path d : cgroupDirs(cgroupRoot, "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
                "systemd", "unified")) {
            if (Files.isDirectory(d)) {
                try (Stream<Path> s = Files.walk(d)) {
                    for (Path p : s.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(p);
                    }
                } catch (IOException e) {
                    System.err.println("cleanup of " + d + ": " + e);
                }
            }
        }
        DaemonProcess.deleteTree(tmp);
    }
}
