package io.coracle.runtime.daemon;

import io.coracle.runtime.metrics.CallOutcomeInterceptor;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.logging.Level;
import java.util.logging.Logger;

/** Logs every CRI call's outcome: debug for success and client errors, warn for server-side failures. */
public final class CallLogInterceptor extends CallOutcomeInterceptor {
    private static final Logger LOG = Logger.getLogger("io.coracle.runtime.cri.Calls");

    @Override
    protected void closed(MethodDescriptor<?, ?> method, Status status, long nanos) {
        Level level = switch (status.getCode()) {
            case INTERNAL, UNKNOWN, DATA_LOSS -> Level.WARNING;
            default -> Level.FINE;
        };
        if (LOG.isLoggable(level)) {
            LOG.log(level, String.format("%s %s %.1fms%s", method.getFullMethodName(), status.getCode(), nanos / 1e6,
                    status.getDescription() == null ? "" : ": " + status.getDescription()));
        }
    }
}
