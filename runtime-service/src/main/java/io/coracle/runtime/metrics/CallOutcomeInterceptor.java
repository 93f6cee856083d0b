package io.coracle.runtime.metrics;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/** An interceptor told of each call's outcome when the call closes: its method, status and duration. */
public abstract class CallOutcomeInterceptor implements ServerInterceptor {

    /** Called once per call, on close. */
    protected abstract void closed(MethodDescriptor<?, ?> method, Status status, long nanos);

    @Override
    public final <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        long start = System.nanoTime();
        return next.startCall(new SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                closed(call.getMethodDescriptor(), status, System.nanoTime() - start);
                super.close(status, trailers);
            }
        }, headers);
    }
}
