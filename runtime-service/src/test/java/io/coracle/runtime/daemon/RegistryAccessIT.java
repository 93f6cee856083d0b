package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.AuthConfig;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ImageBuilder;
import io.coracle.testing.LocalRegistry;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real daemon at log level debug with [registry] config_path (a hosts.toml mirror that needs credentials)
 * and auth_file: node credentials serve pulls without any, an edited file applies without a restart, and no
 * password reaches the daemon's log, a CRI error, ImageStatus or the metrics.
 */
class RegistryAccessIT {
    static final String NODE_PASSWORD = "Node-Pw-5511";
    static final String REQUEST_PASSWORD = "Req-Pw-7733";

    @TempDir
    Path tmp;

    @Test
    void nodeCredentialsThroughAHostsTomlMirrorAndNoSecretAnywhere() throws Exception {
        Path store = tmp.resolve("registry");
        try (LocalRegistry open = LocalRegistry.start(store)) {
            ImageBuilder.busybox().push(open, "private/app", "1");
        }
        try (LocalRegistry secured = LocalRegistry.start(store, true)) {
            Path hosts = tmp.resolve("certs.d");
            Files.createDirectories(hosts.resolve("registry.k8s.io"));
            // The upstream is a dead local port: a refused mirror never sends the daemon to the real registry.k8s.io.
            Files.writeString(hosts.resolve("registry.k8s.io/hosts.toml"), """
                    server = "http://127.0.0.1:%d"
                    [host."http://%s"]
                      capabilities = ["pull", "resolve"]
                    """.formatted(LocalRegistry.freePort(), secured.host()));
            Path auth = tmp.resolve("auth.json");
            writeAuth(auth, LocalRegistry.PASSWORD, 1);
            Path dir = Files.createDirectories(tmp.resolve("daemon"));
            try (DaemonProcess d = DaemonProcess.launchWith(dir, """

                    [registry]
                    config_path = "%s"
                    auth_file = "%s"
                    """.formatted(hosts, auth))) {
                d.awaitServing(Duration.ofSeconds(30));
                String ref = "registry.k8s.io/private/app:1";
                PullImageRequest anonymous = PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(ref)).build();
                String id = d.images().pullImage(anonymous).getImageRef();
                assertTrue(id.startsWith("sha256:"), id);

                StatusRuntimeException wrong = assertThrows(StatusRuntimeException.class, () -> d.images().pullImage(anonymous.toBuilder()
                        .setAuth(AuthConfig.newBuilder().setUsername(LocalRegistry.USER).setPassword(REQUEST_PASSWORD)).build()));
                assertEquals(Status.Code.PERMISSION_DENIED, wrong.getStatus().getCode());

                writeAuth(auth, NODE_PASSWORD, 2);
                StatusRuntimeException edited = assertThrows(StatusRuntimeException.class, () -> d.images().pullImage(anonymous));
                assertEquals(Status.Code.PERMISSION_DENIED, edited.getStatus().getCode(), "the edited file applies at once");

                String status = d.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(ref))
                        .setVerbose(true).build()).toString();
                Matcher m = Pattern.compile("metrics on (http://127\\.0\\.0\\.1:\\d+/metrics)").matcher(d.logText());
                assertTrue(m.find());
                String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(m.group(1))).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
                assertTrue(metrics.contains("coracle_image_pulls_in_flight 0.0"), "pull progress metrics are served");
                assertTrue(metrics.contains("coracle_image_pull_downloaded_bytes_total"), "pull progress metrics are served");

                String log = d.logText();
                assertTrue(log.contains("registry hosts for registry.k8s.io from " + hosts.resolve("registry.k8s.io/hosts.toml")), log);
                assertTrue(log.contains("pull progress"), "debug level shows pull progress");
                for (String secret : List.of(LocalRegistry.PASSWORD, NODE_PASSWORD, REQUEST_PASSWORD,
                        b64(LocalRegistry.USER + ":" + LocalRegistry.PASSWORD), b64(LocalRegistry.USER + ":" + NODE_PASSWORD),
                        b64(LocalRegistry.USER + ":" + REQUEST_PASSWORD))) {
                    assertFalse(log.contains(secret), "the daemon log holds a secret");
                    assertFalse(wrong.getStatus().toString().contains(secret) || edited.getStatus().toString().contains(secret));
                    assertFalse(status.contains(secret));
                    assertFalse(metrics.contains(secret));
                }
            }
        }
    }

    static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    static void writeAuth(Path file, String password, int version) throws Exception {
        Files.writeString(file, "{\"auths\": {\"registry.k8s.io\": {\"auth\": \"" + b64(LocalRegistry.USER + ":" + password) + "\"}}}\n");
        Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis() + version * 10_000L));
    }
}
