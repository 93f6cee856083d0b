package io.coracle.runtime.metrics;

import io.coracle.cri.v1.PullImageResponse;
import io.coracle.image.ImageService;
import io.coracle.image.store.ImageRecord;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;

/**
 * Watches the PullImage RPC: {@code coracle_image_pulls_total{result}} (success, failure),
 * {@code coracle_image_pull_duration_seconds} and {@code coracle_image_pull_bytes_total}, the
 * size of each pulled image as its record states it (also when the pull found it already stored).
 */
public final class ImagePullMetrics implements ServerInterceptor {
    static final String PULL_IMAGE = "runtime.v1.ImageService/PullImage";

    private final ImageService images;
    private final Counter succeeded;
    private final Counter failed;
    private final Counter bytes;
    private final Timer duration;

    public ImagePullMetrics(MeterRegistry registry, ImageService images) {
        this.images = images;
        this.succeeded = pulls(registry, "success");
        this.failed = pulls(registry, "failure");
        this.bytes = Counter.builder("coracle.image.pull.bytes").baseUnit("bytes")
                .description("Sum of the sizes of the images pulled").register(registry);
        this.duration = Timer.builder("coracle.image.pull.duration").description("PullImage calls, successful or not")
                .serviceLevelObjectives(LatencyBuckets.BOUNDS).register(registry);
    }

    private static Counter pulls(MeterRegistry registry, String result) {
        return Counter.builder("coracle.image.pulls").description("PullImage calls by result")
                .tag("result", result).register(registry);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        if (!call.getMethodDescriptor().getFullMethodName().equals(PULL_IMAGE)) {
            return next.startCall(call, headers);
        }
        long start = System.nanoTime();
        return next.startCall(new SimpleForwardingServerCall<>(call) {
            private volatile String imageId;

            @Override
            public void sendMessage(R message) {
                if (message instanceof PullImageResponse r) {
                    imageId = r.getImageRef();
                }
                super.sendMessage(message);
            }

            @Override
            public void close(Status status, Metadata trailers) {
                duration.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
                if (status.isOk()) {
                    succeeded.increment();
                    if (imageId != null) {
                        images.find(imageId).map(ImageRecord::size).ifPresent(bytes::increment);
                    }
                } else {
                    failed.increment();
                }
                super.close(status, trailers);
            }
        }, headers);
    }
}
