package io.coracle.runtime.streaming;

import io.coracle.cri.CriError;
import io.coracle.runtime.config.DaemonConfig;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The streaming server, started when first needed. On the defaults (any free port, no TLS) nothing is
 * bound until the first Exec, Attach or PortForward: a node that never streams never loads Netty nor
 * runs its event loop (about 500 classes and a thread). A configured port or TLS files start it with the
 * daemon instead, so that a port taken or a certificate unusable stops the start, as an operator
 * who named them expects.
 */
public final class OnDemandStreamingServer implements AutoCloseable {
    /** Binds the server; an IOException when it cannot. */
    @FunctionalInterface
    public interface Starter {
        StreamingServer start() throws IOException;
    }

    private final Starter starter;
    private final boolean atDaemonStart;
    private final ReentrantLock lock = new ReentrantLock();
    private CompletableFuture<StreamingServer> server; // null until a start began; under lock
    private boolean closed; // under lock

    public OnDemandStreamingServer(DaemonConfig.Streaming config, Starter starter) {
        this.starter = starter;
        this.atDaemonStart = config.port() != 0 || config.tlsCertFile() != null;
    }

    /** With a configured port or TLS: begins the start on its own thread ({@link #awaitStarted} waits for it). */
    public void startIfConfigured() {
        if (!atDaemonStart) {
            return;
        }
        lock.lock();
        try {
            if (server == null) {
                CompletableFuture<StreamingServer> f = new CompletableFuture<>();
                server = f;
                Thread.ofPlatform().name("streaming-start").start(() -> complete(f));
            }
        } finally {
            lock.unlock();
        }
    }

    /** Waits for a start begun by {@link #startIfConfigured}; an IOException naming why it failed. */
    public void awaitStarted() throws IOException {
        CompletableFuture<StreamingServer> f;
        lock.lock();
        try {
            f = server;
        } finally {
            lock.unlock();
        }
        if (f == null) {
            return;
        }
        try {
            f.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause().getMessage(), e.getCause());
        }
    }

    /**
     * The URL issuer of the server, started now if it was not: UNAVAILABLE when the daemon is stopping
     * or the server cannot start (an on-demand start that failed is tried again at the next call).
     */
    public StreamUrlIssuer issuer() {
        CompletableFuture<StreamingServer> f;
        lock.lock();
        try {
            if (closed) {
                throw new CriError(CriError.Kind.UNAVAILABLE, "the daemon is stopping: no new streaming sessions");
            }
            if (server == null || (!atDaemonStart && server.isCompletedExceptionally())) {
                f = new CompletableFuture<>();
                complete(f); // on the caller's thread: the RPC waits for the bind either way
                server = f;
            }
            f = server;
        } finally {
            lock.unlock();
        }
        try {
            return f.join().issuer();
        } catch (CompletionException e) {
            throw new CriError(CriError.Kind.UNAVAILABLE, "cannot start the streaming server: "
                    + e.getCause().getMessage());
        }
    }

    private void complete(CompletableFuture<StreamingServer> f) {
        try {
            f.complete(starter.start());
        } catch (IOException | RuntimeException e) {
            f.completeExceptionally(e);
        }
    }

    /** Stops the server if it was started; later calls of {@link #issuer} answer UNAVAILABLE. */
    @Override
    public void close() {
        CompletableFuture<StreamingServer> f;
        lock.lock();
        try {
            closed = true;
            f = server;
        } finally {
            lock.unlock();
        }
        if (f != null) {
            f.thenAccept(StreamingServer::close).exceptionally(e -> null).join();
        }
    }
}
