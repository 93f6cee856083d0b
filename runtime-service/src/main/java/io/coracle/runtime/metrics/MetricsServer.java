package io.coracle.runtime.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.coracle.runtime.config.DaemonConfig;
import io.coracle.image.ImageService;
import io.coracle.runtime.container.ContainerEvents;
import io.coracle.runtime.container.ContainerStatusReader;
import io.coracle.runtime.container.ContainerStore;
import io.coracle.sandbox.SandboxService;
import io.grpc.ServerInterceptor;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Logger;

/**
 * The daemon's Prometheus endpoint: a registry with the CRI, image, CNI, runtime-state, JVM and
 * process metrics, served in the text format on {@code GET /metrics} (any other path is 404).
 */
public final class MetricsServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(MetricsServer.class.getName());
    private static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JvmGcMetrics gc = new JvmGcMetrics();
    private final RuntimeStateMetrics state;
    private final ImagePullProgressMetrics pullProgress;
    private final List<ServerInterceptor> interceptors;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpServer http;

    private MetricsServer(DaemonConfig.Metrics config, ImageService images, SandboxService sandboxes,
                          ContainerStore containerStore, ContainerStatusReader containerStatus, ContainerEvents events)
            throws IOException {
        new JvmMemoryMetrics().bindTo(registry);
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        state = new RuntimeStateMetrics(registry, sandboxes.store(), containerStatus, containerStore);
        pullProgress = new ImagePullProgressMetrics(registry, images.pullProgress());
        interceptors = List.of(new CriCallMetrics(registry), new ImagePullMetrics(registry, images));
        sandboxes.setCniTimings(new CniOperationMetrics(registry));
        ContainerEventMetrics.register(registry, events);

        try {
            http = HttpServer.create(new InetSocketAddress(config.address(), config.port()), 16);
        } catch (IOException e) {
            sandboxes.setCniTimings(null);
            executor.shutdownNow();
            gc.close();
            registry.close();
            throw e;
        }
        http.setExecutor(executor);
        http.createContext("/", this::handle);
        http.start();
    }

    /** Builds the metrics and binds the endpoint; an IOException when the address cannot be bound. */
    public static MetricsServer start(DaemonConfig.Metrics config, ImageService images, SandboxService sandboxes,
                                      ContainerStore containerStore, ContainerStatusReader containerStatus,
                                      ContainerEvents events) throws IOException {
        MetricsServer server = new MetricsServer(config, images, sandboxes, containerStore, containerStatus, events);
        LOG.info("metrics on " + server.url());
        return server;
    }

    /** The interceptors that feed the CRI and image pull metrics, for the gRPC server. */
    public List<ServerInterceptor> interceptors() {
        return interceptors;
    }

    /** http://address:port/metrics with the port actually bound. */
    public String url() {
        InetSocketAddress a = http.getAddress();
        String host = a.getAddress().getHostAddress();
        if (a.getAddress() instanceof Inet6Address) {
            host = "[" + host.replaceFirst("%.*$", "") + "]";
        }
        return "http://" + host + ":" + a.getPort() + "/metrics";
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!exchange.getRequestURI().getPath().equals("/metrics")) {
                reply(exchange, 404, "not found\n");
            } else if (!exchange.getRequestMethod().equals("GET")) {
                exchange.getResponseHeaders().set("Allow", "GET");
                reply(exchange, 405, "method not allowed\n");
            } else {
                state.refresh();
                pullProgress.refresh();
                exchange.getResponseHeaders().set("Content-Type", CONTENT_TYPE);
                reply(exchange, 200, registry.scrape());
            }
        } catch (RuntimeException e) {
            LOG.warning("metrics: scrape failed: " + e);
            throw e;
        }
    }

    private static void reply(HttpExchange exchange, int code, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(code, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    /** Stops serving (in-flight scrapes get a second) and releases the GC listeners. */
    @Override
    public void close() {
        http.stop(1);
        executor.shutdownNow();
        gc.close();
        registry.close();
    }
}
