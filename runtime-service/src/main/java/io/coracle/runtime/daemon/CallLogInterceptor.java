package io.coracle.runtime.daemon;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.logging.Level;
import java.util.logging.Logger;

/** Logs every CRI call's outcome: debug for success and client errors, warn for server-side failures. */
public final class CallLogInterceptor implements ServerInterceptor {
    private static final Logger LOG = Logger.getLogger("io.coracle.runtime.cri.Calls");

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        long start = System.nanoTime();
        String method = call.getMethodDescriptor().getFullMethodName();
        return next.startCall(new SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                Level level = switch (status.getCode()) {
                    case INTERNAL, UNKNOWN, DATA_LOSS -> Level.WARNING;
                    default -> Level.FINE;
                };
                if (LOG.isLoggable(level)) {
                    LOG.log(level, String.format("%s %s %.1fms%s", method, status.getCode(),
                            (System.nanoTime() - start) / 1e6,
                            status.getDescription() == null ? "" : ": " + status.getDescription()));
                }
                super.close(status, trailers);
            }
        }, headers);
    }
}
