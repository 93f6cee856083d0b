package io.coracle.cri;

import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.nio.file.FileSystemException;
import java.util.logging.Level;
import java.util.logging.Logger;

/** The one mapping from a failure to the gRPC status a CRI client sees (containerd's errgrpc.ToGRPC). */
public final class CriStatus {
    private static final Logger LOG = Logger.getLogger(CriStatus.class.getName());
    /** strerror(ENOSPC), as the JDK's file system errors and the shim's carry it. */
    private static final String ENOSPC = "No space left on device";

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

    /**
     * The ENOSPC among {@code e} and its causes, or null: a {@link FileSystemException} whose reason is
     * the kernel's "No space left on device", or any failure whose message carries it (the shim's errors
     * and domain errors that wrap one by its text).
     */
    public static Throwable noSpace(Throwable e) {
        int depth = 0;
        for (Throwable t = e; t != null && depth < 16; t = t.getCause(), depth++) {
            if (t instanceof FileSystemException f && f.getReason() != null && f.getReason().contains(ENOSPC)) {
                return f;
            }
        }
        depth = 0;
        for (Throwable t = e; t != null && depth < 16; t = t.getCause(), depth++) {
            if (t.getMessage() != null && t.getMessage().contains(ENOSPC)) {
                return t;
            }
        }
        return null;
    }

    /** The status of a domain error: its kind's code and its message. */
    public static Status of(CriError e) {
        return Status.fromCode(code(e.kind())).withDescription(e.getMessage());
    }

    /**
     * The status answering {@code rpc} that failed with {@code e}: a status passes as it is, a
     * full disk (ENOSPC, see {@link #noSpace}) not otherwise classified is RESOURCE_EXHAUSTED, a
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
        Throwable full = noSpace(e);
        if (full != null && (!(e instanceof CriError c) || c.kind() == CriError.Kind.INTERNAL || c.kind() == CriError.Kind.UNKNOWN)) {
            // A full disk is no bug of Coracle's: the kubelet sees the node out of a resource (its eviction frees space).
            String message = e instanceof CriError ? e.getMessage() : e.toString();
            if (full instanceof FileSystemException f && f.getFile() != null && !message.contains(f.getFile())) {
                message += " (" + f.getFile() + ")";
            }
            LOG.warning((rpc.isEmpty() ? "" : rpc + ": ") + "out of disk space: " + message);
            return Status.RESOURCE_EXHAUSTED.withDescription((rpc.isEmpty() ? "" : rpc + ": ") + "out of disk space: " + message)
                    .withCause(e).asRuntimeException();
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
