package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.registry.Credentials;
import io.coracle.image.registry.PullProgress;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pulls in flight, bytes per blob and stalls are visible while a pull runs, and at debug level in the log. */
class PullProgressTest {
    @TempDir
    Path tmp;

    @Test
    void aStalledPullShowsItsBytesAndTheStallThenNothingInFlight() throws Exception {
        List<String> debug = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel().intValue() <= Level.FINE.intValue()) {
                    debug.add(r.getMessage());
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger logger = Logger.getLogger(PullProgress.class.getName());
        logger.setLevel(Level.FINE);
        logger.addHandler(capture);
        TestImage img = ImagePullTest.busyboxImage();
        try (LocalRegistry registry = LocalRegistry.start(tmp.resolve("registry"));
             FaultProxy proxy = new FaultProxy(registry.base());
             ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            img.push(new RegistryPusher(registry.base()), "test/progress", "1");
            proxy.stallOnceAfter.set(100_000);
            try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64")
                    .withRequestTimeout(Duration.ofSeconds(2)).withMaxRetries(3))) {
                PullProgress p = s.pullProgress();
                Future<?> pull = ex.submit(() -> s.pull(proxy.base().getAuthority() + "/test/progress:1", Credentials.ANONYMOUS));
                boolean sawStalledBlob = false;
                while (!pull.isDone()) {
                    for (PullProgress.Download d : p.downloads()) {
                        if (d.done() == 100_000 && d.size() > 100_000) {
                            sawStalledBlob = true;
                            assertEquals(1, p.pullsInFlight());
                            assertTrue(d.image().endsWith("/test/progress"), d.image());
                        }
                    }
                    Thread.sleep(20);
                }
                pull.get();
                assertTrue(sawStalledBlob, "the stalled blob was visible with its 100000 bytes");
                assertEquals(1, p.stalls());
                assertEquals(0, p.pullsInFlight());
                assertTrue(p.downloads().isEmpty());
                long total = img.blobs.stream().mapToLong(b -> b.length).sum() + img.config.length;
                assertTrue(p.bytesDownloaded() >= total, p.bytesDownloaded() + " < " + total);
            }
        } finally {
            logger.removeHandler(capture);
            logger.setLevel(null);
        }
        assertTrue(debug.stream().anyMatch(m -> m.contains("pull progress") && m.contains("stalled at bytes=100000/")), debug.toString());
        assertTrue(debug.stream().anyMatch(m -> m.contains("pull progress") && m.contains(" ended bytes=")), debug.toString());
    }
}
