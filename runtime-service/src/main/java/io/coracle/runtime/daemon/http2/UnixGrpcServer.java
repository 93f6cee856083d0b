package io.coracle.runtime.daemon.http2;

import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A gRPC server on a unix socket: HTTP/2 with prior knowledge, as the kubelet, crictl and grpc-java
 * clients speak it, served by {@link Http2ServerConnection} and dispatched into grpc-java's service
 * definitions (handlers and interceptors unchanged). One virtual thread accepts, one reads each
 * connection, one runs each call: no event loops and no thread hand-offs on a call's path.
 */
public final class UnixGrpcServer {
    private static final Logger LOG = Logger.getLogger(UnixGrpcServer.class.getName());

    private final Path socket;
    private final Map<String, ServerMethodDefinition<?, ?>> methods = new HashMap<>();
    private final Set<Http2ServerConnection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicLong connectionNumbers = new AtomicLong();
    private volatile ServerSocketChannel listener;
    private volatile boolean shuttingDown;

    public UnixGrpcServer(Path socket, List<ServerServiceDefinition> services) {
        this.socket = socket;
        for (ServerServiceDefinition service : services) {
            for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
                if (methods.put(m.getMethodDescriptor().getFullMethodName(), m) != null) {
                    throw new IllegalArgumentException("method " + m.getMethodDescriptor().getFullMethodName() + " served twice");
                }
            }
        }
    }

    ServerMethodDefinition<?, ?> method(String fullName) {
        return methods.get(fullName);
    }

    /** Binds the socket (which must not exist) and starts accepting. */
    public void start() throws IOException {
        ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.bind(UnixDomainSocketAddress.of(socket), 128);
        } catch (IOException e) {
            channel.close();
            throw e;
        }
        listener = channel;
        Thread.ofVirtual().name("cri-accept").start(this::accept);
    }

    private void accept() {
        while (!shuttingDown) {
            SocketChannel client;
            try {
                client = listener.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (shuttingDown) {
                    return;
                }
                LOG.log(Level.WARNING, "accepting on " + socket + " failed", e);
                try {
                    Thread.sleep(100); // e.g. out of file descriptors: do not spin
                } catch (InterruptedException ie) {
                    return;
                }
                continue;
            }
            Http2ServerConnection connection = new Http2ServerConnection(client, this, connectionNumbers.incrementAndGet());
            connections.add(connection);
            if (shuttingDown) {
                connection.close();
                return;
            }
            Thread.ofVirtual().name("cri-connection").start(connection::serve);
        }
    }

    void closed(Http2ServerConnection connection) {
        connections.remove(connection);
    }

    /** Stops accepting and tells every client to open no more calls; calls in flight go on. */
    public void shutdown() {
        shuttingDown = true;
        ServerSocketChannel l = listener;
        if (l != null) {
            try {
                l.close();
            } catch (IOException e) {
                LOG.log(Level.FINE, "closing " + socket, e);
            }
        }
        for (Http2ServerConnection c : connections) {
            c.goAway();
        }
    }

    /** Waits up to {@code millis} for the calls in flight to end; whether they did. */
    public boolean awaitTermination(long millis) throws InterruptedException {
        long deadline = System.nanoTime() + millis * 1_000_000;
        while (connections.stream().anyMatch(c -> c.activeStreams() > 0)) {
            if (System.nanoTime() >= deadline) {
                return false;
            }
            Thread.sleep(10);
        }
        return true;
    }

    /** Closes every connection: the calls still in flight are cancelled. */
    public void shutdownNow() {
        shutdown();
        for (Http2ServerConnection c : connections) {
            c.close();
        }
    }
}
