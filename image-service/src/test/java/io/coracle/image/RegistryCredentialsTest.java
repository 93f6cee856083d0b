package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.AuthConfig;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.image.registry.Credentials;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which host gets which credentials: the pull's, the node's auth file, never another registry's. */
class RegistryCredentialsTest {
    static final String NODE_PASSWORD = "n0de-Secret-77";
    static final java.util.concurrent.atomic.AtomicLong STAMP = new java.util.concurrent.atomic.AtomicLong(System.currentTimeMillis());

    @TempDir
    Path tmp;
    LocalRegistry secured;
    TestImage img;
    final List<AutoCloseable> closing = new ArrayList<>();
    final List<String> log = new ArrayList<>();
    final Handler capture = new Handler() {
        @Override
        public synchronized void publish(LogRecord r) {
            log.add(r.getLevel() + " " + r.getLoggerName() + " " + new java.util.logging.SimpleFormatter().formatMessage(r)
                    + (r.getThrown() == null ? "" : " " + r.getThrown()));
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    Level before;

    @BeforeEach
    void start() throws Exception {
        Logger coracle = Logger.getLogger("io.coracle");
        before = coracle.getLevel();
        coracle.setLevel(Level.ALL); // debug level: what an operator with log_level = "debug" sees
        coracle.addHandler(capture);
        secured = closeLater(LocalRegistry.start(tmp.resolve("secured"), true));
        img = new TestImage().layer(new TestLayer().file("private", "p\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(new RegistryPusher(secured.base(), LocalRegistry.USER, LocalRegistry.PASSWORD), "private/app", "1");
    }

    @AfterEach
    void stop() throws Exception {
        Logger coracle = Logger.getLogger("io.coracle");
        coracle.removeHandler(capture);
        coracle.setLevel(before);
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
    }

    <T extends AutoCloseable> T closeLater(T c) {
        closing.add(c);
        return c;
    }

    ImageService open(String root, ImageServiceConfig c) {
        return closeLater(new ImageService(c));
    }

    ImageServiceConfig config(String root) {
        return ImageServiceConfig.defaults(tmp.resolve(root)).withPlatform("linux/amd64").withMaxRetries(0)
                .withRequestTimeout(Duration.ofSeconds(10));
    }

    static Credentials right() {
        return Credentials.of(LocalRegistry.USER, LocalRegistry.PASSWORD, null, null, null);
    }

    @Test
    void aMirrorOfTheRegistryGetsThePullsCredentialsADefaultMirrorNever() throws Exception {
        FaultProxy recorder = closeLater(new FaultProxy(secured.base()));
        Path hosts = tmp.resolve("certs.d");
        Files.createDirectories(hosts.resolve("registry.k8s.io"));
        Files.writeString(hosts.resolve("registry.k8s.io/hosts.toml"), """
                [host."%s"]
                  capabilities = ["pull", "resolve"]
                """.formatted(recorder.base()));
        ImageService s = open("root", config("root").withHostsDir(hosts));
        ImageException anonymous = assertThrows(ImageException.class, () -> s.pull("registry.k8s.io/private/app:1", Credentials.ANONYMOUS));
        assertTrue(anonymous.getMessage().contains("requires credentials and none were given"), anonymous.getMessage());
        assertEquals(img.configDigest().toString(), s.pull("registry.k8s.io/private/app:1", right()).id());
        assertTrue(recorder.requests.stream().anyMatch(r -> r.contains(" Basic ")), recorder.requests.toString());

        // _default serves every registry: a mirror there is not the credentials' registry and never sees them.
        recorder.requests.clear();
        Path defaults = tmp.resolve("certs.d-default");
        Files.createDirectories(defaults.resolve("_default"));
        Files.writeString(defaults.resolve("_default/hosts.toml"), """
                [host."%s"]
                  capabilities = ["pull", "resolve"]
                """.formatted(recorder.base()));
        ImageService d = open("root-d", config("root-d").withHostsDir(defaults));
        ImageException e = assertThrows(ImageException.class, () -> d.pull("registry.k8s.io/private/app:1", right()));
        assertTrue(e.getMessage().contains("(mirror of registry.k8s.io): registry requires credentials and none were given"), e.getMessage());
        assertFalse(recorder.requests.isEmpty());
        assertTrue(recorder.requests.stream().allMatch(r -> r.contains(" none ")), recorder.requests.toString());
    }

    @Test
    void credentialsForAnotherRegistryAreNotUsed() throws Exception {
        ImageService s = open("root", config("root"));
        CriImageService cri = new CriImageService(s);
        String ref = secured.host() + "/private/app:1";
        AuthConfig other = AuthConfig.newBuilder().setUsername(LocalRegistry.USER).setPassword(LocalRegistry.PASSWORD)
                .setServerAddress("https://other.example:5000").build();
        var refused = CriImageServiceTest.call(cri::pullImage, PullImageRequest.newBuilder().setImage(CriImageServiceTest.spec(ref)).setAuth(other).build());
        assertEquals(Status.Code.PERMISSION_DENIED, refused.status().getCode());
        AuthConfig mine = other.toBuilder().setServerAddress("http://" + secured.host() + "/v2/").build();
        assertEquals(img.configDigest().toString(), CriImageServiceTest.call(cri::pullImage,
                PullImageRequest.newBuilder().setImage(CriImageServiceTest.spec(ref)).setAuth(mine).build()).value().getImageRef());
        assertTrue(Credentials.serveRegistry("", "docker.io"));
        assertTrue(Credentials.serveRegistry("https://index.docker.io/v1/", "docker.io"));
        assertFalse(Credentials.serveRegistry("quay.io", "docker.io"));
    }

    @Test
    void nodeAuthFileServesPullsWithoutCredentialsAndIsReRead() throws Exception {
        Path auth = tmp.resolve("etc/auth.json");
        Files.createDirectories(auth.getParent());
        writeAuth(auth, "\"" + secured.host() + "/private\"", LocalRegistry.PASSWORD);
        ImageService s = open("root", config("root").withAuthFile(auth));
        String ref = secured.host() + "/private/app:1";
        assertEquals(img.configDigest().toString(), s.pull(ref, Credentials.ANONYMOUS).id());

        // Edited while running: now wrong, and a repository outside the key's scope gets nothing.
        writeAuth(auth, "\"http://" + secured.host() + "\"", "wrong-" + NODE_PASSWORD);
        ImageException wrong = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.UNAUTHORIZED, wrong.reason());
        // The request's own credentials win over the node's.
        assertEquals(img.configDigest().toString(), s.pull(ref, right()).id());
        writeAuth(auth, "\"" + secured.host() + "/public\"", LocalRegistry.PASSWORD);
        ImageException outOfScope = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS));
        assertTrue(outOfScope.getMessage().contains("requires credentials and none were given"), outOfScope.getMessage());
    }

    @Test
    void passwordsNeverReachLogsErrorsRecordsOrImageStatus() throws Exception {
        Path auth = tmp.resolve("auth.json");
        writeAuth(auth, "\"" + secured.host() + "\"", NODE_PASSWORD);
        ImageService s = open("root", config("root").withAuthFile(auth));
        CriImageService cri = new CriImageService(s);
        String ref = secured.host() + "/private/app:1";
        String requestPassword = "Req-Pa55-" + System.nanoTime();
        List<String> errors = new ArrayList<>();
        // The node's (wrong) password, then a wrong request password, then a right one.
        errors.add(assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS)).getMessage());
        var bad = CriImageServiceTest.call(cri::pullImage, PullImageRequest.newBuilder().setImage(CriImageServiceTest.spec(ref))
                .setAuth(AuthConfig.newBuilder().setUsername(LocalRegistry.USER).setPassword(requestPassword)).build());
        errors.add(bad.status().toString());
        var badAuth = CriImageServiceTest.call(cri::pullImage, PullImageRequest.newBuilder().setImage(CriImageServiceTest.spec(ref))
                .setAuth(AuthConfig.newBuilder().setAuth(Base64.getEncoder().encodeToString((LocalRegistry.USER + ":" + requestPassword)
                        .getBytes(StandardCharsets.UTF_8)))).build());
        errors.add(badAuth.status().toString());
        CriImageServiceTest.call(cri::pullImage, PullImageRequest.newBuilder().setImage(CriImageServiceTest.spec(ref))
                .setAuth(AuthConfig.newBuilder().setUsername(LocalRegistry.USER).setPassword(LocalRegistry.PASSWORD)).build()).value();
        String status = CriImageServiceTest.call(cri::imageStatus, ImageStatusRequest.newBuilder().setImage(CriImageServiceTest.spec(ref))
                .setVerbose(true).build()).value().toString();

        List<String> secrets = List.of(NODE_PASSWORD, requestPassword, LocalRegistry.PASSWORD,
                Base64.getEncoder().encodeToString((LocalRegistry.USER + ":" + requestPassword).getBytes(StandardCharsets.UTF_8)),
                Base64.getEncoder().encodeToString((LocalRegistry.USER + ":" + NODE_PASSWORD).getBytes(StandardCharsets.UTF_8)));
        assertTrue(log.size() > 5, "the pulls logged: " + log);
        for (String secret : secrets) {
            for (String line : log) {
                assertFalse(line.contains(secret), "log line holds a secret: " + line);
            }
            for (String e : errors) {
                assertFalse(e.contains(secret), "error holds a secret: " + e);
            }
            assertFalse(status.contains(secret), "ImageStatus holds a secret");
            try (Stream<Path> files = Files.walk(tmp.resolve("root"))) {
                for (Path f : files.filter(Files::isRegularFile).filter(f -> f.toString().endsWith(".json")).toList()) {
                    assertFalse(Files.readString(f).contains(secret), f + " holds a secret");
                }
            }
        }
    }

    static void writeAuth(Path file, String quotedKey, String password) throws Exception {
        String b64 = Base64.getEncoder().encodeToString((LocalRegistry.USER + ":" + password).getBytes(StandardCharsets.UTF_8));
        Files.writeString(file, "{\"auths\": {" + quotedKey + ": {\"auth\": \"" + b64 + "\"}}}\n");
        // Each version a later mtime, as edits seconds apart have (this test writes them within a millisecond).
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(STAMP.addAndGet(10_000)));
    }
}
