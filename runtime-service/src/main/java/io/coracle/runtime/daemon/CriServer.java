package io.coracle.runtime.daemon;

import com.google.common.util.concurrent.MoreExecutors;
import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/** The gRPC server for the CRI services and gRPC health, on a unix socket (mode 0660). */
public final class CriServer {
    private static final Logger LOG = Logger.getLogger(CriServer.class.getName());

    private final Path socket;
    private final Server server;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final ExecutorService calls;
    private final HealthStatusManager health = new HealthStatusManager();

    public CriServer(Path socket, List<BindableService> services, List<ServerInterceptor> interceptors) {
        if (!Epoll.isAvailable()) {
            throw new IllegalStateException("Netty epoll transport unavailable: " + Epoll.unavailabilityCause());
        }
        this.socket = socket;
        this.boss = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        this.workers = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
        // Handlers block on the disk, the kernel and child processes: one virtual thread per call.
        this.calls = Executors.newVirtualThreadPerTaskExecutor();
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .executor(calls)
                .callExecutor(new FromMemoryOnEventLoop())
                .maxInboundMessageSize(16 * 1024 * 1024)
                .addService(health.getHealthService());
        // First in the list: innermost, so the other interceptors see the clipped status too.
        List<ServerInterceptor> all = new java.util.ArrayList<>(List.of(new BoundedStatusDescriptions()));
        all.addAll(interceptors);
        for (BindableService service : services) {
            builder.addService(ServerInterceptors.intercept(service, all));
        }
        this.server = builder.build();
        for (BindableService service : services) {
            health.setStatus(service.bindService().getServiceDescriptor().getName(),
                    io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);
        }
    }

    /**
     * The calls the kubelet polls answer from memory (no process, no wait on a lock held across I/O):
     * they run on the event loop that read them, sparing two thread hand-offs per call. Every other
     * call gets its own virtual thread.
     */
    static final class FromMemoryOnEventLoop implements ServerCallExecutorSupplier {
        static final Set<String> METHODS = Set.of(
                "runtime.v1.RuntimeService/PodSandboxStatus", "runtime.v1.RuntimeService/ContainerStatus",
                "runtime.v1.RuntimeService/ListPodSandbox", "runtime.v1.RuntimeService/ListContainers",
                "runtime.v1.RuntimeService/Version", "runtime.v1.ImageService/ImageStatus",
                "runtime.v1.ImageService/ListImages");

        @Override
        public <Q, R> Executor getExecutor(ServerCall<Q, R> call, Metadata metadata) {
            return METHODS.contains(call.getMethodDescriptor().getFullMethodName()) ? MoreExecutors.directExecutor() : null;
        }
    }

    /** Binds the socket, replacing a stale socket file left by a dead daemon (the caller holds the lock). */
    public void start() throws DaemonStartException {
        try {
            Files.createDirectories(socket.getParent());
            if (Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
                if (Files.isDirectory(socket, LinkOption.NOFOLLOW_LINKS)) {
                    throw new DaemonStartException("socket path " + socket + " is a directory");
                }
                LOG.info("removing stale socket " + socket);
                Files.delete(socket);
            }
            server.start();
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw----"));
        } catch (IOException e) {
            shutdownNow();
            throw new DaemonStartException("cannot serve on " + socket + ": " + e.getMessage(), e);
        }
    }

    /** Stops accepting calls, lets in-flight ones finish for up to {@code grace}, then cancels the rest. */
    public void stop(Duration grace) {
        health.enterTerminalState();
        server.shutdown();
        try {
            if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.warning("in-flight calls still running after " + grace.toSeconds() + "s; cancelling them");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        shutdownNow();
    }

    private void shutdownNow() {
        server.shutdownNow();
        try {
            server.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        calls.shutdownNow();
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.warning("cannot remove socket " + socket + ": " + e.getMessage());
        }
    }
}
