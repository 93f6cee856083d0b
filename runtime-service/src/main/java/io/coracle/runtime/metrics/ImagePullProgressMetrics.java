package io.coracle.runtime.metrics;

import io.coracle.image.registry.PullProgress;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;

/**
 * What pulls are doing now: {@code coracle_image_pulls_in_flight}, {@code coracle_image_pull_blobs_in_flight},
 * {@code coracle_image_pull_blob_bytes{image,digest,size}} (bytes so far of each blob download in flight,
 * refreshed at each scrape), {@code coracle_image_pull_downloaded_bytes_total} and
 * {@code coracle_image_pull_stalls_total} (downloads that delivered nothing for the request timeout).
 */
public final class ImagePullProgressMetrics {
    private final PullProgress progress;
    private final MultiGauge blobBytes;

    public ImagePullProgressMetrics(MeterRegistry registry, PullProgress progress) {
        this.progress = progress;
        Gauge.builder("coracle.image.pulls.in.flight", progress, PullProgress::pullsInFlight)
                .description("PullImage calls in progress").register(registry);
        Gauge.builder("coracle.image.pull.blobs.in.flight", progress, p -> p.downloads().size())
                .description("Blob downloads in progress").register(registry);
        FunctionCounter.builder("coracle.image.pull.downloaded", progress, PullProgress::bytesDownloaded).baseUnit("bytes")
                .description("Bytes of blobs downloaded from registries").register(registry);
        FunctionCounter.builder("coracle.image.pull.stalls", progress, PullProgress::stalls)
                .description("Blob downloads that delivered no byte for the request timeout (dropped and resumed)").register(registry);
        blobBytes = MultiGauge.builder("coracle.image.pull.blob").baseUnit("bytes")
                .description("Bytes downloaded so far of each blob download in progress").register(registry);
    }

    /** Rows for the downloads in flight now; finished ones disappear. */
    public void refresh() {
        blobBytes.register(progress.downloads().stream()
                .map(d -> MultiGauge.Row.of(Tags.of("image", d.image(), "digest", d.digest(), "size", Long.toString(d.size())), d.done()))
                .toList(), true);
    }
}
