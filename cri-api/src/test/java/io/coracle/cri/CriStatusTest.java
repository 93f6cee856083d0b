package io.coracle.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CriStatusTest {

    @Test
    void eachKindHasOneCodeAndTheMessageIsTheUsers() {
        Map<CriError.Kind, Status.Code> expected = Map.ofEntries(
                Map.entry(CriError.Kind.INVALID, Status.Code.INVALID_ARGUMENT),
                Map.entry(CriError.Kind.NOT_FOUND, Status.Code.NOT_FOUND),
                Map.entry(CriError.Kind.ALREADY_EXISTS, Status.Code.ALREADY_EXISTS),
                Map.entry(CriError.Kind.PRECONDITION, Status.Code.FAILED_PRECONDITION),
                Map.entry(CriError.Kind.PERMISSION_DENIED, Status.Code.PERMISSION_DENIED),
                Map.entry(CriError.Kind.UNAVAILABLE, Status.Code.UNAVAILABLE),
                Map.entry(CriError.Kind.RESOURCE_EXHAUSTED, Status.Code.RESOURCE_EXHAUSTED),
                Map.entry(CriError.Kind.DEADLINE_EXCEEDED, Status.Code.DEADLINE_EXCEEDED),
                Map.entry(CriError.Kind.DATA_LOSS, Status.Code.DATA_LOSS),
                Map.entry(CriError.Kind.UNIMPLEMENTED, Status.Code.UNIMPLEMENTED),
                Map.entry(CriError.Kind.UNKNOWN, Status.Code.UNKNOWN),
                Map.entry(CriError.Kind.INTERNAL, Status.Code.INTERNAL));
        assertEquals(CriError.Kind.values().length, expected.size());
        for (CriError.Kind k : CriError.Kind.values()) {
            StatusRuntimeException s = CriStatus.toGrpc("RunPodSandbox", new CriError(k, "config.hostname: bad"));
            assertEquals(expected.get(k), s.getStatus().getCode(), k.name());
            assertEquals("config.hostname: bad", s.getStatus().getDescription(), "no rpc prefix on a domain error");
        }
    }

    @Test
    void aStatusPassesAndAnythingElseIsInternalNamingIt() {
        StatusRuntimeException given = Status.ABORTED.withDescription("x").asRuntimeException();
        assertSame(given, CriStatus.toGrpc("PullImage", given));
        assertEquals(Status.Code.ABORTED, CriStatus.toGrpc("", Status.ABORTED.asException()).getStatus().getCode());
        StatusRuntimeException npe = CriStatus.toGrpc("PullImage", new NullPointerException("boom"));
        assertEquals(Status.Code.INTERNAL, npe.getStatus().getCode());
        assertEquals("PullImage: java.lang.NullPointerException: boom", npe.getStatus().getDescription());
        assertEquals("java.lang.IllegalStateException: s",
                CriStatus.toGrpc("", new IllegalStateException("s")).getStatus().getDescription());
    }

    @Test
    void aFullDiskIsResourceExhaustedNamingTheOperationAndPath() {
        var enospc = new java.nio.file.FileSystemException("/var/lib/coracle/snapshots/tmp-1/big", null, "No space left on device");
        StatusRuntimeException wrapped = CriStatus.toGrpc("PullImage",
                new CriError(CriError.Kind.INTERNAL, "cannot unpack layer sha256:ab", new java.io.UncheckedIOException(enospc)));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, wrapped.getStatus().getCode());
        assertEquals("PullImage: out of disk space: cannot unpack layer sha256:ab (/var/lib/coracle/snapshots/tmp-1/big)",
                wrapped.getStatus().getDescription());
        StatusRuntimeException bare = CriStatus.toGrpc("", new java.io.UncheckedIOException(enospc));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, bare.getStatus().getCode());
        assertEquals("out of disk space: java.io.UncheckedIOException: " + enospc, bare.getStatus().getDescription());
        // The shim's errors carry strerror in their text.
        StatusRuntimeException shim = CriStatus.toGrpc("", CriError.internal(
                "create container c: shim: write /run/x/config.json: No space left on device", null));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, shim.getStatus().getCode());
        assertEquals("out of disk space: create container c: shim: write /run/x/config.json: No space left on device",
                shim.getStatus().getDescription());
        // A classified error keeps its kind, and other I/O failures stay INTERNAL.
        assertEquals(Status.Code.INVALID_ARGUMENT, CriStatus.toGrpc("", new CriError(CriError.Kind.INVALID,
                "bad", enospc)).getStatus().getCode());
        assertEquals(Status.Code.INTERNAL, CriStatus.toGrpc("", new java.io.UncheckedIOException(
                new java.nio.file.FileSystemException("/x", null, "Read-only file system"))).getStatus().getCode());
    }
}
