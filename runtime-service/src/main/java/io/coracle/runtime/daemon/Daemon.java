package io.coracle.runtime.daemon;

import io.coracle.image.CriImageService;
import io.coracle.runtime.config.DaemonConfig;
import io.coracle.runtime.cri.BuildInfo;
import io.coracle.runtime.cri.CriRuntimeService;
import io.coracle.runtime.cri.RuntimeStatusReporter;
import io.coracle.runtime.metrics.MetricsServer;
import io.coracle.runtime.spec.RuntimeDefaultSeccomp;
import io.coracle.runtime.streaming.OnDemandStreamingServer;
import io.coracle.runtime.streaming.StreamingServer;
import io.coracle.sys.NativePrograms;
import io.coracle.sys.PrivateFiles;
import io.grpc.ServerInterceptor;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;
import sun.misc.Signal;

/** The Coracle daemon: takes its locks, serves the CRI on the socket, and shuts down cleanly on SIGTERM/SIGINT. */
public final class Daemon {
    private static final Logger LOG = Logger.getLogger(Daemon.class.getName());

    private final DaemonConfig config;
    private final AtomicBoolean stopping = new AtomicBoolean();
    private final CountDownLatch stopped = new CountDownLatch(1);

    public Daemon(DaemonConfig config) {
        this.config = config;
    }

    /** Runs until a termination signal; returns the process exit code. */
    public int run() throws DaemonStartException, InterruptedException {
        // What has been started, undone in reverse order at shutdown or when a later part fails.
        Deque<Runnable> started = new ArrayDeque<>();
        SystemdNotifier systemd = SystemdNotifier.fromEnvironment(System.getenv(), ProcessHandle.current().pid());
        started.push(systemd::close);
        try {
            start(started);
        } catch (DaemonStartException | RuntimeException e) {
            undo(started);
            throw e;
        }
        Runnable shutdown = () -> {
            if (!stopping.compareAndSet(false, true)) {
                return;
            }
            systemd.stopping("stopping: finishing in-flight calls");
            LOG.info("stopping: no new calls, " + config.shutdownGrace().toSeconds() + "s for in-flight calls");
            undo(started);
            LOG.info("stopped");
            stopped.countDown();
        };
        // Handle the signals ourselves: the JVM's default exits 143, and we want 0 after a clean stop.
        for (String name : List.of("TERM", "INT")) {
            Signal.handle(new Signal(name), signal -> Thread.ofPlatform().name("shutdown").start(shutdown));
        }

        long uptime = ManagementFactory.getRuntimeMXBean().getUptime();
        LOG.info("serving CRI on unix://" + config.socket() + " (coracle " + BuildInfo.VERSION + ", pid "
                + ProcessHandle.current().pid() + ", root " + config.root() + ", state " + config.state()
                + ", config " + config.source() + ", started in " + uptime + "ms)");
        systemd.ready("serving CRI on unix://" + config.socket());
        stopped.await();
        return 0;
    }

    private void start(Deque<Runnable> started) throws DaemonStartException {
        createDirectory(config.root(), PrivateFiles.DIRECTORY);
        DaemonLock rootLock = DaemonLock.acquire(config.root().resolve("coracle.lock"), "root " + config.root());
        started.push(() -> closeQuietly(rootLock));
        // The socket's directory lets others pass (0711), so that the socket's own mode (0660) decides
        // who connects; a directory of someone else's that holds the socket is left as it is.
        Path socketDir = config.socket().toAbsolutePath().getParent();
        boolean socketInState = socketDir.equals(config.state().toAbsolutePath());
        if (socketInState || !Files.isDirectory(socketDir)) {
            createDirectory(socketDir, PrivateFiles.TRAVERSABLE);
        }
        DaemonLock socketLock = DaemonLock.acquire(config.socket().resolveSibling(config.socket().getFileName()
                + ".lock"), "socket " + config.socket());
        started.push(() -> closeQuietly(socketLock));
        // With OCI runtime handlers, their containers in user namespaces have their rootfs mount points in
        // <state>/rootfs, which the pod's root must reach: the state dir lets others pass then too.
        createDirectory(config.state(), socketInState || !config.runtimes().isEmpty() ? PrivateFiles.TRAVERSABLE
                : PrivateFiles.DIRECTORY);

        NativePrograms programs = NativePrograms.locate();
        try {
            RuntimeDefaultSeccomp.profile(); // read once, now: a bad profile stops the start
        } catch (RuntimeException | ExceptionInInitializerError e) {
            throw new DaemonStartException("seccomp/runtime-default.json: " + e, e);
        }
        DaemonServices services = new DaemonServices(config, programs);
        io.coracle.sys.HeapRelease.daemon().startChecking();
        started.push(services::close);
        // The streaming server starts at the first Exec, Attach or PortForward; with a configured port or TLS
        // it binds while the metrics and CRI servers start, and a failure stops the daemon before it serves.
        OnDemandStreamingServer streaming = new OnDemandStreamingServer(config.streaming(),
                () -> StreamingServer.start(config.streaming(), config.state(), programs, services.sandboxes.store(),
                        services.execSync));
        streaming.startIfConfigured();
        started.push(streaming::close);
        List<ServerInterceptor> interceptors = new ArrayList<>(List.of(new CallLogInterceptor()));
        if (config.metrics().enabled()) {
            MetricsServer metrics;
            try {
                metrics = MetricsServer.start(config.metrics(), services.images, services.sandboxes,
                        services.containerStore, services.containerStatus, services.events);
            } catch (IOException e) {
                throw new DaemonStartException("cannot serve metrics on " + config.metrics().address().getHostAddress()
                        + ":" + config.metrics().port() + ": " + e.getMessage(), e);
            }
            started.push(metrics::close);
            interceptors.addAll(metrics.interceptors());
        }
        RuntimeStatusReporter status = new RuntimeStatusReporter(config, programs, services.sandboxes::networkReady,
                services.host);
        status.reportCheckpointSupport(services.checkpointer.criu(), services.checkpointer.checkpointDir());
        CriServer server = new CriServer(config.socket(), List.of(
                new CriRuntimeService(status, services.sandboxes, services.creator, services.lifecycle,
                        services.containerStatus, services.execSync, services.stats, services.updater,
                        services.podStats, services.podMetrics, services.events,
                        streaming::issuer, services.checkpointer),
                new CriImageService(services.images)), interceptors);
        server.start();
        started.push(() -> server.stop(config.shutdownGrace()));
        // Event streams never end by themselves: end them first, or the server waits out the grace for them.
        started.push(services.events::close);
        try {
            streaming.awaitStarted();
        } catch (IOException e) {
            throw new DaemonStartException("cannot start the streaming server: " + e.getMessage(), e);
        }
    }

    private static void undo(Deque<Runnable> started) {
        while (!started.isEmpty()) {
            started.pop().run();
        }
    }

    /** Runs {@code work} holding the root lock, for commands that change the store while no daemon runs. */
    public static <T> T withRootLock(DaemonConfig config, java.util.concurrent.Callable<T> work) throws Exception {
        createDirectory(config.root(), PrivateFiles.DIRECTORY);
        DaemonLock rootLock = DaemonLock.acquire(config.root().resolve("coracle.lock"), "root " + config.root());
        try {
            return work.call();
        } finally {
            closeQuietly(rootLock);
        }
    }

    /**
     * Creates the root, state or socket directory with {@code mode}, or sets an existing one to it: an
     * install that left it open to other users is closed at start. The admin may make it a symlink.
     */
    private static void createDirectory(Path dir, Set<PosixFilePermission> mode) throws DaemonStartException {
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(mode));
            }
            Set<PosixFilePermission> was = Files.getPosixFilePermissions(dir);
            if (!was.equals(mode)) {
                Files.setPosixFilePermissions(dir, mode);
                LOG.info("directory " + dir + " was " + PosixFilePermissions.toString(was) + ", now "
                        + PosixFilePermissions.toString(mode));
            }
        } catch (IOException e) {
            throw new DaemonStartException("cannot create directory " + dir + ": " + e, e);
        }
    }

    private static void closeQuietly(DaemonLock lock) {
        try {
            lock.close();
        } catch (IOException e) {
            LOG.warning("cannot release lock " + lock.path() + ": " + e.getMessage());
        }
    }
}
