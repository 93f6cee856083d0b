package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.coracle.cri.v1.ImageServiceGrpc;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.Status;
import org.junit.jupiter.api.Test;

class FromMemoryOnEventLoopTest {
    private final CriServer.FromMemoryOnEventLoop supplier = new CriServer.FromMemoryOnEventLoop();

    @Test
    void statusAndListCallsRunInlineEverythingElseOnItsOwnThread() {
        for (MethodDescriptor<?, ?> m : java.util.List.<MethodDescriptor<?, ?>>of(
                RuntimeServiceGrpc.getPodSandboxStatusMethod(), RuntimeServiceGrpc.getContainerStatusMethod(),
                RuntimeServiceGrpc.getListPodSandboxMethod(), RuntimeServiceGrpc.getListContainersMethod(),
                RuntimeServiceGrpc.getVersionMethod(), ImageServiceGrpc.getImageStatusMethod(),
                ImageServiceGrpc.getListImagesMethod())) {
            assertNotNull(supplier.getExecutor(call(m), new Metadata()), m.getFullMethodName());
        }
        assertEquals(7, CriServer.FromMemoryOnEventLoop.METHODS.size(), "every name is a real method (checked above)");
        for (MethodDescriptor<?, ?> m : java.util.List.<MethodDescriptor<?, ?>>of(
                RuntimeServiceGrpc.getRunPodSandboxMethod(), RuntimeServiceGrpc.getCreateContainerMethod(),
                RuntimeServiceGrpc.getExecSyncMethod(), RuntimeServiceGrpc.getStatusMethod(),
                ImageServiceGrpc.getPullImageMethod(), ImageServiceGrpc.getRemoveImageMethod())) {
            assertNull(supplier.getExecutor(call(m), new Metadata()), m.getFullMethodName());
        }
    }

    private static <Q, R> ServerCall<Q, R> call(MethodDescriptor<Q, R> m) {
        return new ServerCall<>() {
            @Override public void request(int n) {}
            @Override public void sendHeaders(Metadata h) {}
            @Override public void sendMessage(R message) {}
            @Override public void close(Status s, Metadata t) {}
            @Override public boolean isCancelled() { return false; }
            @Override public MethodDescriptor<Q, R> getMethodDescriptor() { return m; }
        };
    }
}
