package io.coracle.runtime.cri;

import io.coracle.cri.v1.RuntimeConfigRequest;
import io.coracle.cri.v1.RuntimeConfigResponse;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.StatusResponse;
import io.coracle.cri.v1.VersionRequest;
import io.coracle.cri.v1.VersionResponse;
import io.grpc.stub.StreamObserver;

/**
 * The CRI RuntimeService endpoint: each RPC delegates to the class that owns its family.
 * RPCs not built yet fall through to the generated base, which answers UNIMPLEMENTED naming the method.
 */
public final class CriRuntimeService extends RuntimeServiceGrpc.RuntimeServiceImplBase {
    private final RuntimeStatusReporter status;

    public CriRuntimeService(RuntimeStatusReporter status) {
        this.status = status;
    }

    @Override
    public void version(VersionRequest request, StreamObserver<VersionResponse> response) {
        response.onNext(status.version());
        response.onCompleted();
    }

    @Override
    public void status(StatusRequest request, StreamObserver<StatusResponse> response) {
        response.onNext(status.status(request.getVerbose()));
        response.onCompleted();
    }

    @Override
    public void runtimeConfig(RuntimeConfigRequest request, StreamObserver<RuntimeConfigResponse> response) {
        response.onNext(status.runtimeConfig());
        response.onCompleted();
    }
}
