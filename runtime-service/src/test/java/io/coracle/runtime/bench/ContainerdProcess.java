package io.coracle.runtime.bench;

import io.coracle.cri.v1.ImageServiceGrpc;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.testing.DaemonProcess;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Debian's containerd (CRI plugin, runc v2 shims, overlayfs) on a private root, state, socket and
 * config under {@code dir}, with its CNI conf dir {@code dir/cni} (the caller writes the network) and
 * a plain-HTTP mirror for the local registry. Closing stops it and its shims and removes what it left:
 * mounts under {@code dir}, the pod cgroup parent, the directory.
 */
final class ContainerdProcess implements AutoCloseable {
    final Path dir;
    final Process process;
    final String cgroupParent;
    private static final Path RUN_DIR = Path.of("/run/containerd");
    private final boolean hadRunDir;
    /** containerd 1.6 pins pod network namespaces in /run/netns as cni-<uuid>: those it made during the run go at close. */
    private static final Path NETNS_DIR = Path.of("/run/netns");
    private final java.util.Set<String> netnsBefore = netnsNames();
    private final EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final ManagedChannel channel;

    private ContainerdProcess(Path dir, Process process, String cgroupParent, boolean hadRunDir) {
        this.dir = dir;
        this.hadRunDir = hadRunDir;
        this.process = process;
        this.cgroupParent = cgroupParent;
        this.channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket().toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext()
                .maxInboundMessageSize(16 * 1024 * 1024).build();
    }

    /** Starts containerd with {@code sandboxImage} as the pause image, pulling over http from {@code registryHost}. */
    static ContainerdProcess start(Path dir, String registryHost, String sandboxImage, String cgroupParent)
            throws Exception {
        Files.createDirectories(dir.resolve("cni"));
        Path config = Files.writeString(dir.resolve("config.toml"), """
                version = 2
                root = "%1$s/root"
                state = "%1$s/state"
                oom_score = 0
                [grpc]
                  address = "%1$s/containerd.sock"
                [ttrpc]
                  address = "%1$s/containerd.sock.ttrpc"
                [debug]
                  address = ""
                [metrics]
                  address = ""
                [plugins."io.containerd.internal.v1.opt"]
                  path = "%1$s/opt"
                [plugins."io.containerd.grpc.v1.cri"]
                  sandbox_image = "%3$s"
                  stream_server_address = "127.0.0.1"
                  stream_server_port = "0"
                  enable_selinux = false
                  # This machine denies lowering oom_score_adj (runc would fail on the sandbox's -998).
                  restrict_oom_score_adj = true
                  [plugins."io.containerd.grpc.v1.cri".cni]
                    bin_dir = "/usr/lib/cni"
                    conf_dir = "%1$s/cni"
                  [plugins."io.containerd.grpc.v1.cri".containerd]
                    snapshotter = "overlayfs"
                    default_runtime_name = "runc"
                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                      runtime_type = "io.containerd.runc.v2"
                      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
                        Root = "%1$s/runc"
                  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."%2$s"]
                    endpoint = ["http://%2$s"]
                """.formatted(dir, registryHost, sandboxImage));
        boolean hadRunDir = Files.exists(RUN_DIR);
        Process p = new ProcessBuilder("/usr/bin/containerd", "--config", config.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("containerd.log").toFile()).start();
        ContainerdProcess c = new ContainerdProcess(dir, p, cgroupParent, hadRunDir);
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!Files.readString(dir.resolve("containerd.log")).contains("containerd successfully booted")) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                c.close();
                throw new IllegalStateException("containerd did not start:\n" + Files.readString(dir.resolve("containerd.log")));
            }
            Thread.sleep(20);
        }
        return c;
    }

    Path socket() {
        return dir.resolve("containerd.sock");
    }

    RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime() {
        return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(120, TimeUnit.SECONDS);
    }

    ImageServiceGrpc.ImageServiceBlockingStub images() {
        return ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(300, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
        // The shims outlive containerd by design: end them (and so their containers) by PID.
        List<Long> shims = ProcessTree.matching(dir.toString()).stream()
                .filter(pid -> pid != process.pid()).toList();
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
        for (long pid : ProcessTree.withDescendants(shims)) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        for (long pid : shims) {
            ProcessHandle.of(pid).ifPresent(h -> h.onExit().orTimeout(5, TimeUnit.SECONDS).exceptionally(t -> null).join());
        }
        // Its log outlives the run, for a failure's details.
        Files.copy(dir.resolve("containerd.log"), Path.of("/tmp/coracle-bench-containerd.log"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        System.err.println("containerd's log: /tmp/coracle-bench-containerd.log");
        unmountUnder(dir);
        removeNewNetns();
        removeCgroupParent(cgroupParent);
        DaemonProcess.deleteTree(dir);
        // containerd 1.6 puts its shims' sockets in /run/containerd/s whatever its state dir (and leaves
        // some there): when this run made the directory, it goes.
        if (!hadRunDir) {
            DaemonProcess.deleteTree(RUN_DIR);
        }
    }

    private static java.util.Set<String> netnsNames() {
        try (Stream<Path> names = Files.list(NETNS_DIR)) {
            return names.map(n -> n.getFileName().toString()).collect(java.util.stream.Collectors.toSet());
        } catch (IOException e) {
            return java.util.Set.of();
        }
    }

    /** `ip netns delete` of each cni-* namespace containerd pinned during this run (deleting one removes its veth). */
    private void removeNewNetns() throws IOException, InterruptedException {
        for (String name : netnsNames()) {
            if (name.startsWith("cni-") && !netnsBefore.contains(name)) {
                new ProcessBuilder("ip", "netns", "delete", name).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
            }
        }
    }

    /** Lazily unmounts every mount at or under {@code dir}, deepest first. */
    static void unmountUnder(Path dir) throws IOException, InterruptedException {
        List<String> mounts = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
            String target = line.split(" ")[1].replace("\\040", " ");
            if (target.startsWith(dir + "/")) {
                mounts.add(target);
            }
        }
        mounts.sort(Comparator.comparing(String::length).reversed());
        for (String m : mounts) {
            new ProcessBuilder("umount", "-l", m).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
        }
    }

    /** Removes the pod cgroup parent (and any empty pod cgroups left in it) in every hierarchy. */
    static void removeCgroupParent(String parent) throws IOException {
        try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path h : hierarchies.toList()) {
                Path p = h.resolve(parent.substring(1));
                if (Files.isDirectory(p)) {
                    try (Stream<Path> children = Files.list(p)) {
                        for (Path c : children.filter(Files::isDirectory).toList()) {
                            try {
                                Files.deleteIfExists(c);
                            } catch (IOException e) {
                                // still populated: the leak check reports it
                            }
                        }
                    }
                    try {
                        Files.deleteIfExists(p);
                    } catch (IOException e) {
                        // as above
                    }
                }
            }
        }
    }
}
