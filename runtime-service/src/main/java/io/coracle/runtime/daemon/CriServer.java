package io.coracle.runtime.daemon;

import io.coracle.runtime.daemon.http2.UnixGrpcServer;
import io.grpc.BindableService;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/** The gRPC server for the CRI services and gRPC health, on a unix socket (mode 0660). */
public final class CriServer {
    private static final Logger LOG = Logger.getLogger(CriServer.class.getName());

    private final Path socket;
    private final UnixGrpcServer server;
    private final HealthStatusManager health = new HealthStatusManager();

    public CriServer(Path socket, List<BindableService> services, List<ServerInterceptor> interceptors) {
        this.socket = socket;
        // First in the list: innermost, so the other interceptors see the clipped status too.
        List<ServerInterceptor> all = new ArrayList<>(List.of(new BoundedStatusDescriptions()));
        all.addAll(interceptors);
        List<ServerServiceDefinition> definitions = new ArrayList<>(List.of(health.getHealthService().bindService()));
        for (BindableService service : services) {
            definitions.add(ServerInterceptors.intercept(service, all));
        }
        this.server = new UnixGrpcServer(socket, definitions);
        for (BindableService service : services) {
            health.setStatus(service.bindService().getServiceDescriptor().getName(),
                    io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);
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
            if (!server.awaitTermination(grace.toMillis())) {
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
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.warning("cannot remove socket " + socket + ": " + e.getMessage());
        }
    }
}
