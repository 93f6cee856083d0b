package io.coracle.sandbox;

import static org.junit.jupiter.api.Assertions.assertThrows;

import io.coracle.cri.CriError;
import io.coracle.cri.CriStatus;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.function.Executable;

/** A sandbox call that must fail, and the gRPC status the CRI edge answers it with (the one mapping). */
final class Refusals {
    private Refusals() {
    }

    static StatusRuntimeException refusal(Executable call) {
        return CriStatus.toGrpc("", assertThrows(CriError.class, call));
    }

    static StatusRuntimeException refusal(Executable call, String why) {
        return CriStatus.toGrpc("", assertThrows(CriError.class, call, why));
    }
}
