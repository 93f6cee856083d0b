package io.coracle.cri;

import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.util.logging.Level;
import java.util.logging.Logger;

/** The one mapping from a failure to the gRPC status a CRI client sees (containerd's errgrpc.ToGRPC). */
public final class CriStatus {
    private static final Logger LOG = Logger.getLogger(CriStatus.class.getName());

    private CriStatus() {
    }

    public static Status.Code code(CriError.Kind kind) {
        return switch (kind) {
            case INVALID -> Status.Code.INVALID_ARGUMENT;
            case NOT_FOUND -> Status.Code.NOT_FOUND;
            case ALREADY_EXISTS -> Status.Code.ALREADY_EXISTS;
            case PRECONDITION -> Status.Code.FAILED_PRECONDITION;
            case PERMISSION_DENIED -> Status.Code.PERMISSION_DENIED;
            case UNAVAILABLE -> Status.Code.UNAVAILABLE;
            case RESOURCE_EXHAUSTED -> Status.Code.RESOURCE_EXHAUSTED;
            case DEADLINE_EXCEEDED -> Status.Code.DEADLINE_EXCEEDED;
            case DATA_LOSS -> Status.Code.DATA_LOSS;
            case UNIMPLEMENTED -> Status.Code.UNIMPLEMENTED;
            case UNKNOWN -> Status.Code.UNKNOWN;
            case INTERNAL -> Status.Code.INTERNAL;
        };
    }

    /** The status of a domain error: its kind's code and its message. */
    public static Status of(CriError e) {
        return Status.fromCode(code(e.kind())).withDescription(e.getMessage());
    }

    /**
     * The status answering {@code rpc} that failed with {@code e}: a status passes as it is, a
     * {@link CriError} by its kind, anything else is an unexpected INTERNAL (logged with its stack) whose
     * message is the exception, after the rpc name unless {@code rpc} is empty.
     */
    public static StatusRuntimeException toGrpc(String rpc, Throwable e) {
        if (e instanceof StatusRuntimeException s) {
            return s;
        }
        if (e instanceof StatusException s) {
            return s.getStatus().asRuntimeException(s.getTrailers());
        }
        if (e instanceof CriError c) {
            // The call log (CallLogInterceptor) has the line a user needs; this one says the kind.
            LOG.fine(() -> rpc + " failed kind=" + c.kind() + ": " + c.getMessage());
            return of(c).asRuntimeException();
        }
        LOG.log(Level.WARNING, rpc + " failed unexpectedly", e);
        return Status.INTERNAL.withDescription(rpc.isEmpty() ? e.toString() : rpc + ": " + e).withCause(e)
                .asRuntimeException();
    }
}
