package io.coracle.runtime.metrics;

import static io.coracle.testing.CriTestbed.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.DaemonProcess;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.ConnectException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Prometheus endpoint of a real daemon, after real pulls, pods, containers and a failing call. */
class MetricsIT {
    private static final Pattern LOGGED_URL = Pattern.compile("metrics on (http://127\\.0\\.0\\.1:(\\d+)/metrics)");
    private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** One sample of the text format: name, labels, value. */
    record Sample(String name, Map<String, String> labels, double value) {}

    @Test
    void endpointReportsCriCallsPodsContainersPullsShimsCniAndJvm() throws Exception {
        // Port 0: the daemon binds a free port and logs it.
        try (CriTestbed bed = CriTestbed.start("[metrics]\nport = 0\n")) {
            Matcher m = LOGGED_URL.matcher(bed.daemon.logText());
            assertTrue(m.find(), "no 'metrics on' line in the log");
            URI url = URI.create(m.group(1));

            bed.daemon.images().pullImage(PullImageRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(CriTestbed.BUSYBOX)).build());
            PodSandboxConfig pod = bed.pod("metrics").build();
            String podId = bed.runPod(pod);
            String id = bed.createAndStart(podId, pod, container("sleeper", "sleep", "300"));
            bed.awaitStatus(id, s -> s.getState() == ContainerState.CONTAINER_RUNNING, Duration.ofSeconds(10));
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> bed.runtime()
                    .containerStatus(ContainerStatusRequest.newBuilder().setContainerId("no-such-container").build()));
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());

            HttpResponse<String> r = get(url);
            assertEquals(200, r.statusCode());
            assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
            List<Sample> samples = parse(r.body());

            assertTrue(value(samples, "coracle_cri_request_duration_seconds_count",
                    Map.of("method", "RunPodSandbox", "code", "OK")) >= 1);
            assertTrue(value(samples, "coracle_cri_request_duration_seconds_bucket",
                    Map.of("method", "RunPodSandbox", "code", "OK", "le", "+Inf")) >= 1);
            assertEquals(1, value(samples, "coracle_cri_request_errors_total",
                    Map.of("method", "ContainerStatus", "code", "NOT_FOUND")));
            assertTrue(samples.stream().noneMatch(s -> s.name().equals("coracle_cri_request_errors_total")
                    && "OK".equals(s.labels().get("code"))), "OK calls are not errors");
            assertEquals(1, value(samples, "coracle_pods", Map.of("state", "ready")));
            assertEquals(0, value(samples, "coracle_pods", Map.of("state", "notready")));
            assertEquals(1, value(samples, "coracle_containers", Map.of("state", "running")));
            assertEquals(0, value(samples, "coracle_containers", Map.of("state", "exited")));
            // The testbed pulled two images at start, the test one more.
            assertEquals(3, value(samples, "coracle_image_pulls_total", Map.of("result", "success")));
            assertEquals(0, value(samples, "coracle_image_pulls_total", Map.of("result", "failure")));
            assertEquals(3, value(samples, "coracle_image_pull_duration_seconds_count", Map.of()));
            assertTrue(value(samples, "coracle_image_pull_bytes_total", Map.of()) > 3 * 100_000,
                    "three busybox images");
            assertEquals(1, value(samples, "coracle_shims", Map.of()));
            assertEquals(1, value(samples, "coracle_cni_operation_duration_seconds_count",
                    Map.of("op", "add", "result", "success")));
            assertTrue(value(samples, "coracle_cni_operation_duration_seconds_sum", Map.of("op", "add")) > 0);
            assertTrue(samples.stream().anyMatch(s -> s.name().equals("jvm_memory_used_bytes")
                    && "heap".equals(s.labels().get("area")) && s.value() > 0), "heap in use");
            assertTrue(value(samples, "jvm_threads_live_threads", Map.of()) > 0);
            assertTrue(value(samples, "process_uptime_seconds", Map.of()) > 0);
            assertTrue(samples.stream().anyMatch(s -> s.name().startsWith("jvm_gc_")), "GC metrics");

            assertEquals(404, get(url.resolve("/other")).statusCode());
            assertEquals(404, get(url.resolve("/")).statusCode());

            bed.removePod(podId);
            samples = parse(get(url).body());
            assertEquals(0, value(samples, "coracle_pods", Map.of("state", "ready")));
            assertEquals(0, value(samples, "coracle_containers", Map.of("state", "running")));
            assertEquals(0, value(samples, "coracle_shims", Map.of()));
            assertEquals(1, value(samples, "coracle_cni_operation_duration_seconds_count",
                    Map.of("op", "del", "result", "success")));
        }
    }

    @Test
    void disabledMetricsOpenNoPort() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Path dir = Files.createTempDirectory("coracle-it-");
        try (DaemonProcess daemon = DaemonProcess.launchWith(dir, "[metrics]\nenabled = false\nport = " + port + "\n")) {
            daemon.awaitServing(Duration.ofSeconds(30));
            assertFalse(daemon.logText().contains("metrics on"), daemon.logText());
            assertThrows(ConnectException.class, () -> get(URI.create("http://127.0.0.1:" + port + "/metrics")));
        }
    }

    @Test
    void portInUseStopsTheDaemonWithAMessage() throws Exception {
        Path dir = Files.createTempDirectory("coracle-it-");
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             DaemonProcess daemon = DaemonProcess.launchWith(dir, "[metrics]\nport = " + taken.getLocalPort() + "\n")) {
            assertTrue(daemon.process().waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "daemon still running");
            assertEquals(1, daemon.process().exitValue());
            assertTrue(daemon.logText().contains("cannot serve metrics on 127.0.0.1:" + taken.getLocalPort()),
                    daemon.logText());
            assertFalse(Files.exists(daemon.socket()), "no CRI socket");
        }
    }

    private HttpResponse<String> get(URI uri) throws Exception {
        return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static List<Sample> parse(String text) {
        List<Sample> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int brace = line.indexOf('{');
            int space = line.lastIndexOf(' ');
            String name = brace < 0 ? line.substring(0, line.indexOf(' ')) : line.substring(0, brace);
            Map<String, String> labels = new java.util.HashMap<>();
            if (brace >= 0) {
                Matcher m = LABEL.matcher(line.substring(brace, line.lastIndexOf('}')));
                while (m.find()) {
                    labels.put(m.group(1), m.group(2));
                }
            }
            out.add(new Sample(name, labels, Double.parseDouble(line.substring(space + 1))));
        }
        return out;
    }

    /** The value of the one sample named {@code name} whose labels include {@code labels}. */
    private static double value(List<Sample> samples, String name, Map<String, String> labels) {
        List<Sample> found = samples.stream().filter(s -> s.name().equals(name)
                && s.labels().entrySet().containsAll(labels.entrySet())).toList();
        assertEquals(1, found.size(), name + labels + " in " + samples.stream()
                .filter(s -> s.name().equals(name)).toList());
        return found.get(0).value();
    }
}
