package io.coracle.runtime.testing;

import io.coracle.cri.v1.ImageServiceGrpc;
import io.coracle.cri.v1.RuntimeServiceGrpc;
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
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real Coracle daemon started from the built distribution on its own temp socket, root and state,
 * and (unless the caller names a config file) its own CNI conf dir, bridge, subnet and cgroup parent,
 * so it never touches what a Coracle on the default paths uses. Has a gRPC client over the socket.
 * Closing it stops the daemon and deletes the temp tree, the bridge, its IPAM state and cgroup parent.
 */
public final class DaemonProcess implements AutoCloseable {
    private final Path dir;
    private final Process process;
    private final Path log;
    private final String isolation; // the bridge (and cgroup parent suffix) this daemon was given; null if none
    private final List<String> args;
    private EventLoopGroup clientLoop;
    private ManagedChannel channel;

    private DaemonProcess(Path dir, Process process, Path log, String isolation, List<String> args) {
        this.dir = dir;
        this.process = process;
        this.log = log;
        this.isolation = isolation;
        this.args = args;
    }

    /** Starts a daemon in a new temp dir and waits until its socket serves. */
    public static DaemonProcess start(String... extraArgs) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("coracle-it-");
        DaemonProcess daemon = launch(dir, extraArgs);
        daemon.awaitServing(Duration.ofSeconds(30));
        return daemon;
    }

    /** Starts a daemon on {@code dir}'s paths without waiting; the caller checks the outcome. */
    public static DaemonProcess launch(Path dir, String... extraArgs) throws IOException {
        return launchWith(dir, "", extraArgs);
    }

    /**
     * Starts a daemon with an isolating config (plus {@code extraToml}) written to {@code dir/coracle.toml},
     * unless {@code extraArgs} name a --config of their own. The config ends inside its [cni] table, so
     * {@code extraToml} may add CNI keys; a [metrics] table in it replaces the default "port = 0".
     */
    public static DaemonProcess launchWith(Path dir, String extraToml, String... extraArgs) throws IOException {
        List<String> args = new ArrayList<>(List.of("daemon",
                "--socket", dir.resolve("coracle.sock").toString(),
                "--root", dir.resolve("root").toString(),
                "--state", dir.resolve("state").toString(),
                "--log-level", "debug"));
        String isolation = null;
        if (!List.of(extraArgs).contains("--config")) {
            int n = ThreadLocalRandom.current().nextInt(0x1000, 0x10000);
            isolation = "crd" + Integer.toHexString(n);
            Path config = Files.writeString(dir.resolve("coracle.toml"), """
                    cgroup_parent = "/coracle-test-%s"
                    [cni]
                    conf_dir = "%s"
                    default_bridge = "%s"
                    default_subnet = "10.%d.%d.0/24"
                    """.formatted(isolation, dir.resolve("cni"), isolation, 214 + n % 8, n % 250) + extraToml
                    // Metrics on a free port, so that daemons of parallel tests never share one.
                    + (extraToml.contains("[metrics]") ? "" : "\n[metrics]\nport = 0\n"));
            args.addAll(List.of("--config", config.toString()));
        }
        args.addAll(List.of(extraArgs));
        return start(dir, args, isolation);
    }

    /** A new daemon on the same paths and config, after this one was killed. */
    public DaemonProcess relaunch() throws IOException {
        return start(dir, args, isolation);
    }

    private static DaemonProcess start(Path dir, List<String> args, String isolation) throws IOException {
        List<String> command = new ArrayList<>(javaCommand());
        command.addAll(args);
        Path log = Files.createTempFile(dir, "daemon", ".log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new DaemonProcess(dir, p, log, isolation, args);
    }

    /** Runs the Coracle CLI with arbitrary arguments, its output going to a log in {@code dir}. */
    public static DaemonProcess run(Path dir, List<String> command) throws IOException {
        Path log = Files.createTempFile(dir, "daemon", ".log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new DaemonProcess(dir, p, log, null, List.of());
    }

    /** The bridge this daemon's default CNI network uses, when the daemon was given an isolating config. */
    public String bridge() {
        return isolation;
    }

    /** The cgroup parent of this daemon's pods, when it was given an isolating config. */
    public String cgroupParent() {
        return isolation == null ? null : "/coracle-test-" + isolation;
    }

    /** {@code java @<dist>/jvm.options -jar <dist>/lib/coracle.jar} with the JDK running the tests, as the launcher runs it. */
    public static List<String> javaCommand() {
        String dist = System.getProperty("coracle.dist");
        if (dist == null) {
            throw new IllegalStateException("coracle.dist is not set: run integration tests through Maven (failsafe)");
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return List.of(java, "@" + dist + "/jvm.options", "-jar", dist + "/lib/coracle.jar");
    }

    public void awaitServing(Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!logText().contains("serving CRI on")) {
            if (!process.isAlive()) {
                throw new IllegalStateException("daemon exited with " + process.exitValue() + ":\n" + logText());
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("daemon not serving after " + timeout + ":\n" + logText());
            }
            Thread.sleep(20);
        }
    }

    public Path dir() {
        return dir;
    }

    public Path socket() {
        return dir.resolve("coracle.sock");
    }

    public Process process() {
        return process;
    }

    public String logText() throws IOException {
        return Files.readString(log);
    }

    public synchronized ManagedChannel channel() {
        if (channel == null) {
            clientLoop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
            channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket().toString()))
                    .channelType(EpollDomainSocketChannel.class)
                    .eventLoopGroup(clientLoop)
                    .usePlaintext()
                    .maxInboundMessageSize(16 * 1024 * 1024) // as the kubelet's CRI client
                    .build();
        }
        return channel;
    }

    public RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime() {
        return RuntimeServiceGrpc.newBlockingStub(channel()).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    public ImageServiceGrpc.ImageServiceBlockingStub images() {
        return ImageServiceGrpc.newBlockingStub(channel()).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    /** SIGKILLs the daemon, as a crash would, leaving its directories for a restart. */
    public void kill9() throws InterruptedException {
        closeClient();
        process.destroyForcibly().waitFor();
    }

    /** Sends SIGTERM and waits for the exit code. */
    public int terminate(Duration timeout) throws InterruptedException {
        closeClient();
        process.destroy();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly().waitFor();
            throw new IllegalStateException("daemon ignored SIGTERM for " + timeout);
        }
        return process.exitValue();
    }

    private void closeClient() throws InterruptedException {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            clientLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
            channel = null;
        }
    }

    @Override
    public void close() throws Exception {
        closeClient();
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
        try {
            deleteTree(dir);
        } finally {
            if (isolation != null) {
                removeIsolation();
            }
        }
    }

    /** The CNI bridge plugin never deletes its bridge, nor host-local its per-network state; the pod cgroups' parent stays too. */
    private void removeIsolation() throws IOException, InterruptedException {
        new ProcessBuilder("ip", "link", "del", isolation).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
        deleteTree(Path.of("/var/lib/cni/networks", isolation));
        try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path h : hierarchies.toList()) {
                Files.deleteIfExists(h.resolve(cgroupParent().substring(1)));
            }
        } catch (IOException e) {
            // a parent still holding a pod cgroup: the leak checks report it
        }
    }

    public static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
