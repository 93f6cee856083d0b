package io.coracle.runtime.daemon;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * Clips every error's description to {@link #MAX_CHARS}: a message that echoes a huge request
 * value would otherwise overflow the client's 8 KiB trailer limit and reach it as a different code.
 */
final class BoundedStatusDescriptions implements ServerInterceptor {
    static final int MAX_CHARS = 4096;

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        return next.startCall(new SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                String d = status.getDescription();
                super.close(d != null && d.length() > MAX_CHARS
                        ? status.withDescription(d.substring(0, MAX_CHARS) + "... (" + d.length() + " characters)")
                        : status, trailers);
            }
        }, headers);
    }
}
