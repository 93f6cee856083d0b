package io.coracle.runtime.metrics;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.registry.PullProgress;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.Test;

/** The pull progress meters under the names the README gives. */
class ImagePullProgressMetricsTest {
    @Test
    void pullProgressIsExportedUnderItsPrometheusNames() {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        PullProgress progress = new PullProgress();
        ImagePullProgressMetrics metrics = new ImagePullProgressMetrics(registry, progress);
        progress.pullStarted();
        progress.pullStarted();
        metrics.refresh();
        String text = registry.scrape();
        for (String line : new String[] {"coracle_image_pulls_in_flight 2.0", "coracle_image_pull_blobs_in_flight 0.0",
                "coracle_image_pull_downloaded_bytes_total 0.0", "coracle_image_pull_stalls_total 0.0"}) {
            assertTrue(text.contains(line), line + " in\n" + text);
        }
        progress.pullEnded();
        assertTrue(registry.scrape().contains("coracle_image_pulls_in_flight 1.0"));
        registry.close();
    }
}
