package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.content.ImageConfig;
import io.coracle.image.registry.Credentials;
import io.coracle.image.store.ImageRecord;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pulls against a real docker-registry on 127.0.0.1. */
class ImagePullTest {
    @TempDir
    Path tmp;
    LocalRegistry registry;
    RegistryPusher pusher;
    ImageService service;

    @BeforeEach
    void start() throws Exception {
        registry = LocalRegistry.start(tmp.resolve("registry"));
        pusher = new RegistryPusher(registry.base());
    }

    @AfterEach
    void stop() throws Exception {
        if (service != null) {
            service.close();
        }
        registry.close();
    }

    ImageService open(ImageServiceConfig config) {
        if (service != null) {
            service.close();
        }
        service = new ImageService(config);
        return service;
    }

    ImageServiceConfig config() {
        return ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64");
    }

    /** busybox (dynamically linked) and its libraries, a whiteout, an opaque dir, a zstd layer, a User. */
    static TestImage busyboxImage() {
        TestLayer base = new TestLayer().dir("bin").dir("etc").dir("lib").dir("lib64").dir("lib/x86_64-linux-gnu")
                .copy("bin/busybox", Path.of("/bin/busybox"))
                .symlink("bin/sh", "/bin/busybox")
                .hardlink("bin/ash", "bin/busybox")
                .copy("lib/x86_64-linux-gnu/libc.so.6", Path.of("/lib/x86_64-linux-gnu/libc.so.6"))
                .copy("lib/x86_64-linux-gnu/libresolv.so.2", Path.of("/lib/x86_64-linux-gnu/libresolv.so.2"))
                .copy("lib64/ld-linux-x86-64.so.2", Path.of("/lib64/ld-linux-x86-64.so.2"))
                .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/work:/bin/sh\n")
                .file("etc/removed", "gone in layer 2\n")
                .dir("opt/data").file("opt/data/old.txt", "old\n")
                .file("work/owned", "x".getBytes(), 0640, 1000, 1000)
                .dir("dev").charDevice("dev/null", 1, 3).fifo("dev/pipe");
        TestLayer second = new TestLayer()
                .file("etc/.wh.removed", "")
                .dir("opt/data").file("opt/data/.wh..wh..opq", "").file("opt/data/new.txt", "new\n")
                .xattrFile("etc/tagged", "t\n", "user.coracle", "yes")
                .binaryXattrFile("etc/binary", "b\n", "user.raw", new byte[] {0, (byte) 0xff, (byte) 0xfe, 0x41})
                .dir(".wh..wh.plnk").file(".wh..wh.plnk/12.34", "aufs hard link store\n");
        TestLayer third = new TestLayer().file("etc/motd", "from a zstd layer\n");
        return new TestImage()
                .layer(base.tar(), TestImage.Compression.GZIP)
                .layer(second.tar(), TestImage.Compression.NONE)
                .layer(third.tar(), TestImage.Compression.ZSTD)
                .user("1000:1000")
                .build(false);
    }

    @Test
    void pullByTagUnpacksLayersAsOverlayfsExpects() throws Exception {
        TestImage img = busyboxImage();
        Digest manifest = img.push(pusher, "test/busybox", "1.36");
        ImageService s = open(config());
        String ref = registry.host() + "/test/busybox:1.36";
        ImageRecord r = s.pull(ref, Credentials.ANONYMOUS);

        assertEquals(img.configDigest().toString(), r.id());
        assertEquals(List.of(ref), r.repoTags());
        assertEquals(List.of(registry.host() + "/test/busybox@" + manifest), r.repoDigests());
        assertEquals("1000:1000", r.user());
        List<Path> lowers = s.lowerDirs(r.id());
        assertEquals(3, lowers.size());
        Path top = lowers.get(0);
        Path middle = lowers.get(1);
        Path bottom = lowers.get(2);
        assertEquals("from a zstd layer\n", Files.readString(top.resolve("etc/motd")));
        // whiteout: a 0/0 character device
        assertEquals("c", fileType(middle.resolve("etc/removed")));
        assertEquals("y", getxattr(middle.resolve("opt/data"), "trusted.overlay.opaque"));
        assertEquals("yes", getxattr(middle.resolve("etc/tagged"), "user.coracle"));
        // a binary value survives byte for byte (security.capability is such a value)
        assertEquals("00fffe41", run("python3", "-c", "import os,sys; print(os.getxattr(sys.argv[1], 'user.raw',"
                + " follow_symlinks=False).hex(), end='')", middle.resolve("etc/binary").toString()));
        assertEquals("b\n", Files.readString(middle.resolve("etc/binary")));
        assertFalse(Files.exists(middle.resolve(".wh..wh.plnk"), LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(middle.resolve(".wh.plnk"), LinkOption.NOFOLLOW_LINKS));
        assertEquals(1000, (int) Files.getAttribute(bottom.resolve("work/owned"), "unix:uid"));
        assertEquals(0640, (int) Files.getAttribute(bottom.resolve("work/owned"), "unix:mode") & 07777);
        assertEquals("/bin/busybox", Files.readSymbolicLink(bottom.resolve("bin/sh")).toString());
        assertEquals(2, (int) Files.getAttribute(bottom.resolve("bin/busybox"), "unix:nlink"));
        assertEquals("character special file 1:3 666\n", run("stat", "-c", "%F %t:%T %a", bottom.resolve("dev/null").toString()));
        assertEquals("fifo 600\n", run("stat", "-c", "%F %a", bottom.resolve("dev/pipe").toString()));

        // The merged view behaves: whiteout hides, opaque dir hides old files, busybox runs.
        Path merged = tmp.resolve("merged");
        Path upper = tmp.resolve("upper");
        Path work = tmp.resolve("work");
        Files.createDirectories(merged);
        Files.createDirectories(upper);
        Files.createDirectories(work);
        String lowerdir = String.join(":", lowers.stream().map(Path::toString).toList());
        run("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lowerdir + ",upperdir=" + upper + ",workdir=" + work, merged.toString());
        try {
            assertFalse(Files.exists(merged.resolve("etc/removed"), LinkOption.NOFOLLOW_LINKS));
            assertFalse(Files.exists(merged.resolve("opt/data/old.txt")));
            assertEquals("new\n", Files.readString(merged.resolve("opt/data/new.txt")));
            assertEquals("hello\n", run("chroot", merged.toString(), "/bin/sh", "-c", "echo hello"));
        } finally {
            run("umount", merged.toString());
        }

        ImageConfig cfg = s.imageConfig(ref);
        assertEquals(List.of("/bin/busybox"), cfg.settings().entrypoint());
        assertEquals("/work", cfg.settings().workingDir());
        assertTrue(cfg.settings().exposedPorts().containsKey("8080/tcp"));
    }

    @Test
    void pullByDigestAndDockerSchema2() throws Exception {
        TestImage img = new TestImage().layer(new TestLayer().file("a", "a\n").tar(), TestImage.Compression.GZIP).build(true);
        Digest manifest = img.push(pusher, "test/docker", null);
        ImageService s = open(config());
        String ref = registry.host() + "/test/docker@" + manifest;
        ImageRecord r = s.pull(ref, Credentials.ANONYMOUS);
        assertEquals(img.configDigest().toString(), r.id());
        assertEquals(List.of(), r.repoTags());
        assertEquals(List.of(ref), r.repoDigests());
        assertEquals(r.id(), s.find(ref).orElseThrow().id());
        // A digest that is not in the registry: NOT_FOUND naming it.
        String missing = registry.host() + "/test/docker@sha256:" + "0".repeat(64);
        ImageException e = assertThrows(ImageException.class, () -> s.pull(missing, Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.NOT_FOUND, e.reason());
    }

    /**
     * Concurrent layer downloads from one registry share one HttpClient: one selector thread (and over TLS one
     * pool of direct read buffers) per registry, not one per download; closing the service ends it.
     */
    @Test
    void concurrentDownloadsFromOneRegistryShareOneHttpClient() throws Exception {
        TestImage img = new TestImage();
        java.util.Random random = new java.util.Random(7);
        for (int i = 0; i < 4; i++) {
            byte[] noise = new byte[2 << 20]; // incompressible: the downloads overlap
            random.nextBytes(noise);
            img.layer(new TestLayer().file("layer" + i, noise, 0644, 0, 0).tar(), TestImage.Compression.GZIP);
        }
        img.build(false).push(pusher, "test/lanes", "1");
        long before = httpClientSelectors();
        ImageService s = open(config());
        assertTrue(config().maxConcurrentDownloads() > 1, "downloads run concurrently");
        s.pull(registry.host() + "/test/lanes:1", Credentials.ANONYMOUS);
        for (int i = 0; i < 4; i++) {
            assertEquals(2 << 20, Files.size(s.lowerDirs(registry.host() + "/test/lanes:1").get(3 - i).resolve("layer" + i)));
        }
        assertEquals(before + 1, httpClientSelectors(), "one HttpClient (selector thread) for the registry");
        s.close();
        service = null;
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (httpClientSelectors() > before && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(before, httpClientSelectors(), "closing the service ends its HttpClient's thread");
    }

    private static long httpClientSelectors() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().matches("HttpClient-\\d+-SelectorManager")).count();
    }

    @Test
    void multiArchIndexSelectsNodePlatform() throws Exception {
        TestImage amd = new TestImage().layer(new TestLayer().file("arch", "amd64\n").tar(), TestImage.Compression.GZIP).arch("amd64", null).build(false);
        TestImage arm = new TestImage().layer(new TestLayer().file("arch", "arm64\n").tar(), TestImage.Compression.GZIP).arch("arm64", "v8").build(false);
        amd.push(pusher, "test/multi", null);
        arm.push(pusher, "test/multi", null);
        Digest index = TestImage.pushIndex(pusher, "test/multi", "latest", List.of(arm, amd), true);
        String ref = registry.host() + "/test/multi";
        ImageRecord r = open(config()).pull(ref, Credentials.ANONYMOUS);
        assertEquals(amd.configDigest().toString(), r.id());
        assertEquals(List.of(registry.host() + "/test/multi@" + index), r.repoDigests());
        assertEquals(List.of(ref + ":latest"), r.repoTags());

        ImageRecord onArm = open(ImageServiceConfig.defaults(tmp.resolve("root-arm")).withPlatform("linux/arm64"))
                .pull(ref, Credentials.ANONYMOUS);
        assertEquals(arm.configDigest().toString(), onArm.id());
        assertEquals("arm64\n", Files.readString(service.lowerDirs(onArm.id()).getFirst().resolve("arch")));

        ImageException e = assertThrows(ImageException.class, () -> open(ImageServiceConfig.defaults(tmp.resolve("root-s390"))
                .withPlatform("linux/s390x")).pull(ref, Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.NOT_FOUND, e.reason());
        assertTrue(e.getMessage().contains("linux/s390x"), e.getMessage());
    }

    @Test
    void tagsOfOneImageAndRemoveSemantics() throws Exception {
        TestImage img = new TestImage().layer(new TestLayer().file("a", "a\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(pusher, "test/tags", "v1");
        img.push(pusher, "test/tags", "v2");
        ImageService s = open(config());
        String v1 = registry.host() + "/test/tags:v1";
        String v2 = registry.host() + "/test/tags:v2";
        s.pull(v1, Credentials.ANONYMOUS);
        ImageRecord r = s.pull(v2, Credentials.ANONYMOUS);
        assertEquals(1, s.list().size());
        assertEquals(List.of(v1, v2), r.repoTags());
        assertEquals(1, r.repoDigests().size(), "one manifest, one repo digest");

        s.remove(v1);
        assertTrue(s.find(v1).isEmpty());
        assertEquals(List.of(v2), s.find(v2).orElseThrow().repoTags());
        assertEquals(3, blobCount(), "manifest, config and layer stay while the image has a tag");

        s.remove(v2);
        assertTrue(s.list().isEmpty());
        assertEquals(0, blobCount());
        assertEquals(0, snapshotCount());
        s.remove(v2); // removing what does not exist is not an error
        s.remove("sha256:" + "1".repeat(64));
    }

    @Test
    void tagMovesToNewImageAndRemoveById() throws Exception {
        TestImage one = new TestImage().layer(new TestLayer().file("v", "1\n").tar(), TestImage.Compression.GZIP).build(false);
        TestImage two = new TestImage().layer(new TestLayer().file("v", "2\n").tar(), TestImage.Compression.GZIP).build(false);
        String ref = registry.host() + "/test/moving:latest";
        one.push(pusher, "test/moving", "latest");
        ImageService s = open(config());
        ImageRecord first = s.pull(ref, Credentials.ANONYMOUS);
        two.push(pusher, "test/moving", "latest");
        ImageRecord second = s.pull(ref, Credentials.ANONYMOUS);
        assertNotEquals(first.id(), second.id());
        assertEquals(List.of(), s.find(first.id()).orElseThrow().repoTags());
        assertEquals(second.id(), s.find(ref).orElseThrow().id());
        s.remove(first.id().substring(7, 19)); // unique ID prefix, as crictl shows it
        assertTrue(s.find(first.id()).isEmpty());
        assertEquals(1, snapshotCount());
    }

    @Test
    void restartKeepsImages() throws Exception {
        TestImage img = busyboxImage();
        img.push(pusher, "test/restart", "1");
        String ref = registry.host() + "/test/restart:1";
        ImageRecord r = open(config()).pull(ref, Credentials.ANONYMOUS);
        List<Path> lowers = service.lowerDirs(r.id());
        registry.close();
        service.close();
        service = null;
        // Leftovers of a crash: a half-unpacked snapshot and an unreferenced blob.
        Files.createDirectories(tmp.resolve("root/snapshots/tmp-crashed/etc"));
        Files.writeString(tmp.resolve("root/blobs/sha256/" + "e".repeat(64)), "orphan");
        ImageService again = open(config());
        assertFalse(Files.exists(tmp.resolve("root/snapshots/tmp-crashed")));
        assertFalse(Files.exists(tmp.resolve("root/blobs/sha256/" + "e".repeat(64))));
        assertEquals(r, again.find(ref).orElseThrow());
        assertEquals(lowers, again.lowerDirs(r.id()));
        assertEquals("1000:1000", again.imageConfig(r.id()).settings().user());
        registry = LocalRegistry.start(tmp.resolve("registry2"));
    }

    @Test
    void leaseKeepsLayersAfterImageRemoval() throws Exception {
        TestImage img = new TestImage().layer(new TestLayer().file("a", "a\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(pusher, "test/lease", "1");
        ImageService s = open(config());
        ImageRecord r = s.pull(registry.host() + "/test/lease:1", Credentials.ANONYMOUS);
        s.hold("container-1", r.id());
        List<Path> lowers = s.lowerDirs(r.id());
        s.remove(r.id());
        assertTrue(Files.isDirectory(lowers.getFirst()), "leased snapshot survives image removal");
        // The lease survives a restart too.
        s = open(config());
        s.remove("nothing");
        assertTrue(Files.isDirectory(lowers.getFirst()));
        s.release("container-1");
        assertFalse(Files.exists(lowers.getFirst()));
        assertEquals(0, blobCount());
    }

    @Test
    void aContainersVolumeLeasesGoWithIt() throws Exception {
        TestImage img = new TestImage().layer(new TestLayer().file("v", "volume\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(pusher, "test/vol", "1");
        ImageService s = open(config());
        ImageRecord r = s.pull(registry.host() + "/test/vol:1", Credentials.ANONYMOUS);
        s.hold("c1.volume0", r.id());
        s.hold("c10.volume0", r.id()); // another container whose id starts the same: kept
        s.remove(r.id());
        assertEquals(java.util.Set.of("c1.volume0", "c10.volume0"), s.holders());
        s.release("c1");
        assertEquals(java.util.Set.of("c10.volume0"), s.holders());
        assertTrue(blobCount() > 0, "still leased by c10's volume");
        s.release("c10");
        assertEquals(java.util.Set.of(), s.holders());
        assertEquals(0, blobCount());
    }

    @Test
    void releasingTheLeaseOfAnImageStillPresentKeepsItAndAnotherHolderStillCounts() throws Exception {
        TestImage img = new TestImage().layer(new TestLayer().file("k", "k\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(pusher, "test/keep", "1");
        ImageService s = open(config());
        ImageRecord r = s.pull(registry.host() + "/test/keep:1", Credentials.ANONYMOUS);
        List<Path> lowers = s.lowerDirs(r.id());
        long blobs = blobCount();
        s.hold("container-1", r.id());
        s.hold("container-2", r.id());
        s.release("container-1");
        assertTrue(Files.isDirectory(lowers.getFirst()));
        assertEquals(blobs, blobCount());
        s.remove(r.id());
        assertTrue(Files.isDirectory(lowers.getFirst()), "container-2 still holds it");
        s.release("container-2");
        assertFalse(Files.exists(lowers.getFirst()));
        assertEquals(0, blobCount());
    }

    @Test
    void basicAuthWithRightAndWrongCredentials() throws Exception {
        registry.close();
        registry = LocalRegistry.start(tmp.resolve("auth-registry"), true);
        pusher = new RegistryPusher(registry.base(), LocalRegistry.USER, LocalRegistry.PASSWORD);
        TestImage img = new TestImage().layer(new TestLayer().file("secret", "s\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(pusher, "private/app", "1");
        ImageService s = open(config());
        String ref = registry.host() + "/private/app:1";

        ImageException none = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.UNAUTHORIZED, none.reason());
        ImageException wrong = assertThrows(ImageException.class,
                () -> s.pull(ref, Credentials.of(LocalRegistry.USER, "wrong", null, null, null)));
        assertEquals(ImageException.Reason.UNAUTHORIZED, wrong.reason());
        assertTrue(s.list().isEmpty());

        String auth = java.util.Base64.getEncoder().encodeToString((LocalRegistry.USER + ":" + LocalRegistry.PASSWORD).getBytes());
        ImageRecord r = s.pull(ref, Credentials.of(null, null, auth, null, null));
        assertEquals(img.configDigest().toString(), r.id());
    }

    @Test
    void mirrorServesUpstreamNameAndFallsBackInOrder() throws Exception {
        TestImage img = new TestImage().layer(new TestLayer().file("pause", "p\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(pusher, "pause", "3.10");
        int dead = LocalRegistry.freePort();
        ImageService s = open(config().withMirrors(Map.of("registry.k8s.io",
                List.of(URI.create("http://127.0.0.1:" + dead), registry.base()))));
        ImageRecord r = s.pull("registry.k8s.io/pause:3.10", Credentials.ANONYMOUS);
        assertEquals(List.of("registry.k8s.io/pause:3.10"), r.repoTags());
        assertTrue(r.repoDigests().getFirst().startsWith("registry.k8s.io/pause@sha256:"));
        assertEquals(r.id(), s.find("registry.k8s.io/pause:3.10").orElseThrow().id());
    }

    @Test
    void corruptedBlobIsRejectedAndNothingStored() throws Exception {
        TestImage img = busyboxImage();
        img.push(pusher, "test/corrupt", "1");
        try (FaultProxy proxy = new FaultProxy(registry.base())) {
            proxy.corruptBlobs = true;
            String ref = proxy.base().getAuthority() + "/test/corrupt:1";
            ImageService s = open(config());
            ImageException e = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS));
            assertEquals(ImageException.Reason.DIGEST_MISMATCH, e.reason(), e.getMessage());
            assertTrue(s.list().isEmpty());
            assertEquals(0, blobCount());
            assertEquals(0, snapshotCount());
            try (Stream<Path> ingest = Files.list(tmp.resolve("root/ingest"))) {
                assertEquals(0, ingest.count());
            }
        }
    }

    @Test
    void connectionCutMidBlobIsResumed() throws Exception {
        TestImage img = busyboxImage();
        img.push(pusher, "test/cut", "1");
        try (FaultProxy proxy = new FaultProxy(registry.base())) {
            proxy.cutOnceAfter.set(100_000);
            ImageService s = open(config());
            ImageRecord r = s.pull(proxy.base().getAuthority() + "/test/cut:1", Credentials.ANONYMOUS);
            assertEquals(img.configDigest().toString(), r.id());
            assertEquals(0, proxy.cutOnceAfter.get(), "the cut happened");
            // One resume, from what had arrived: at most the 100,000 bytes sent before the cut (bytes
            // still in flight when the connection is reset are lost), and never from the start.
            assertEquals(1, proxy.rangeRequests.size(), proxy.rangeRequests.toString());
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("bytes=(\\d+)-").matcher(proxy.rangeRequests.getFirst());
            assertTrue(m.matches(), proxy.rangeRequests.getFirst());
            long from = Long.parseLong(m.group(1));
            assertTrue(from > 0 && from <= 100_000, "resumed from " + from);
        }
    }

    @Test
    void tlsRegistryWithCustomCa() throws Exception {
        Path[] server = LocalRegistry.selfSignedCert(tmp.resolve("certs"), "server");
        Path[] other = LocalRegistry.selfSignedCert(tmp.resolve("certs"), "other");
        registry.close();
        registry = LocalRegistry.start(tmp.resolve("tls-registry"), false, server[0], server[1]);
        URI https = URI.create("https://" + registry.host());
        TestImage img = new TestImage().layer(new TestLayer().file("tls", "t\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(new RegistryPusher(https).trusting(io.coracle.image.registry.RegistryClient.sslContextFor(server[0])), "test/tls", "1");
        String ref = registry.host() + "/test/tls:1";

        ImageService wrongCa = open(ImageServiceConfig.defaults(tmp.resolve("root-wrong")).withPlatform("linux/amd64")
                .withCaFiles(Map.of(registry.host(), other[0]))
                .withRequestTimeout(java.time.Duration.ofSeconds(10)).withMaxRetries(0));
        ImageException e = assertThrows(ImageException.class, () -> wrongCa.pull(ref, Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.UNAVAILABLE, e.reason(), e.getMessage());

        ImageService rightCa = open(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64")
                .withCaFiles(Map.of(registry.host(), server[0]))
                .withRequestTimeout(java.time.Duration.ofSeconds(10)).withMaxRetries(0));
        assertEquals(img.configDigest().toString(), rightCa.pull(ref, Credentials.ANONYMOUS).id());
    }

    @Test
    void serverErrorsAreRetried() throws Exception {
        TestImage img = new TestImage().layer(new TestLayer().file("a", "a\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(pusher, "test/flaky", "1");
        try (FaultProxy proxy = new FaultProxy(registry.base())) {
            proxy.failBlobGets.set(2);
            ImageRecord r = open(config()).pull(proxy.base().getAuthority() + "/test/flaky:1", Credentials.ANONYMOUS);
            assertEquals(img.configDigest().toString(), r.id());
            assertEquals(2, proxy.blobGets.get("503").get());
        }
    }

    @Test
    void bearerTokenFlowAnonymousAndWithCredentials() throws Exception {
        TestImage img = new TestImage().layer(new TestLayer().file("a", "a\n").tar(), TestImage.Compression.GZIP).build(false);
        img.push(pusher, "test/token", "1");
        try (FaultProxy proxy = new FaultProxy(registry.base())) {
            proxy.bearerToken = "tok-123";
            String ref = proxy.base().getAuthority() + "/test/token:1";
            assertEquals(img.configDigest().toString(), open(config()).pull(ref, Credentials.ANONYMOUS).id());
            assertTrue(proxy.tokenRequests.getFirst().contains("scope=repository%3Atest%2Ftoken%3Apull"), proxy.tokenRequests.toString());
            assertTrue(proxy.tokenRequests.getFirst().contains("service=coracle-test"), proxy.tokenRequests.toString());

            proxy.tokenCredentials = LocalRegistry.USER + ":" + LocalRegistry.PASSWORD;
            ImageService s = open(ImageServiceConfig.defaults(tmp.resolve("root2")).withPlatform("linux/amd64"));
            ImageException e = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.of(LocalRegistry.USER, "bad", null, null, null)));
            assertEquals(ImageException.Reason.UNAUTHORIZED, e.reason());
            assertEquals(img.configDigest().toString(),
                    s.pull(ref, Credentials.of(LocalRegistry.USER, LocalRegistry.PASSWORD, null, null, null)).id());
            // A registry token from the AuthConfig is used as is, without asking the token server.
            int asked = proxy.tokenRequests.size();
            ImageService s3 = open(ImageServiceConfig.defaults(tmp.resolve("root3")).withPlatform("linux/amd64"));
            assertEquals(img.configDigest().toString(), s3.pull(ref, Credentials.of(null, null, null, null, "tok-123")).id());
            assertEquals(asked, proxy.tokenRequests.size());
            // An identity token is exchanged with an OAuth2 refresh_token POST.
            proxy.tokenCredentials = null;
            ImageService s4 = open(ImageServiceConfig.defaults(tmp.resolve("root4")).withPlatform("linux/amd64"));
            assertEquals(img.configDigest().toString(), s4.pull(ref, Credentials.of(null, null, null, "refresh-me", null)).id());
            String post = proxy.tokenRequests.getLast();
            assertTrue(post.startsWith("POST ") && post.contains("grant_type=refresh_token") && post.contains("refresh_token=refresh-me")
                    && post.contains("scope=repository%3Atest%2Ftoken%3Apull"), post);
        }
    }

    @Test
    void stalledTransferIsDroppedAndResumed() throws Exception {
        TestImage img = busyboxImage();
        img.push(pusher, "test/stall", "1");
        try (FaultProxy proxy = new FaultProxy(registry.base())) {
            proxy.stallOnceAfter.set(100_000);
            ImageServiceConfig c = config();
            ImageService s = open(ImageServiceConfig.defaults(c.root()).withPlatform("linux/amd64")
                    .withRequestTimeout(java.time.Duration.ofSeconds(1)).withMaxRetries(3));
            long start = System.nanoTime();
            ImageRecord r = s.pull(proxy.base().getAuthority() + "/test/stall:1", Credentials.ANONYMOUS);
            assertEquals(img.configDigest().toString(), r.id());
            // One resume, from what had arrived: at most the 100,000 bytes sent before the cut (bytes
            // still in flight when the connection is reset are lost), and never from the start.
            assertEquals(1, proxy.rangeRequests.size(), proxy.rangeRequests.toString());
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("bytes=(\\d+)-").matcher(proxy.rangeRequests.getFirst());
            assertTrue(m.matches(), proxy.rangeRequests.getFirst());
            long from = Long.parseLong(m.group(1));
            assertTrue(from > 0 && from <= 100_000, "resumed from " + from);
            assertTrue(System.nanoTime() - start < 20_000_000_000L, "the stall was detected within seconds");
        }
    }

    @Test
    void connectionCutWithoutRangeSupportStartsOver() throws Exception {
        TestImage img = busyboxImage();
        img.push(pusher, "test/norange", "1");
        try (FaultProxy proxy = new FaultProxy(registry.base())) {
            proxy.ignoreRange = true;
            proxy.cutOnceAfter.set(100_000);
            ImageService s = open(config());
            ImageRecord r = s.pull(proxy.base().getAuthority() + "/test/norange:1", Credentials.ANONYMOUS);
            assertEquals(img.configDigest().toString(), r.id());
            // One resume from what arrived: the proxy's cut can drop bytes it had already forwarded.
            assertEquals(1, proxy.rangeRequests.size(), proxy.rangeRequests.toString());
            long from = Long.parseLong(proxy.rangeRequests.getFirst().replaceAll("^bytes=(\\d+)-$", "$1"));
            assertTrue(from > 0 && from <= 100_000, proxy.rangeRequests.toString());
            assertEquals("from a zstd layer\n", Files.readString(s.lowerDirs(r.id()).getFirst().resolve("etc/motd")));
            assertTrue(Files.isRegularFile(s.lowerDirs(r.id()).getLast().resolve("bin/busybox")));
        }
    }

    @Test
    void concurrentPullsDownloadOnce() throws Exception {
        TestImage img = busyboxImage();
        img.push(pusher, "test/shared", "1");
        try (FaultProxy proxy = new FaultProxy(registry.base()); ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            ImageService s = open(config());
            String ref = proxy.base().getAuthority() + "/test/shared:1";
            List<Future<ImageRecord>> fs = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                fs.add(ex.submit(() -> s.pull(ref, Credentials.ANONYMOUS)));
            }
            Set<String> ids = new java.util.HashSet<>();
            for (Future<ImageRecord> f : fs) {
                ids.add(f.get().id());
            }
            assertEquals(Set.of(img.configDigest().toString()), ids);
            assertEquals(4, proxy.blobGets.size(), "3 layers + config");
            proxy.blobGets.forEach((d, n) -> assertEquals(1, n.get(), "downloads of " + d));
        }
    }

    long blobCount() throws Exception {
        try (Stream<Path> s = Files.list(tmp.resolve("root/blobs/sha256"))) {
            return s.count();
        }
    }

    long snapshotCount() throws Exception {
        try (Stream<Path> s = Files.list(tmp.resolve("root/snapshots"))) {
            return s.count();
        }
    }

    static String fileType(Path p) throws Exception {
        return run("stat", "-c", "%F %t:%T", p.toString()).startsWith("character special file 0:0") ? "c" : "?";
    }

    static String getxattr(Path p, String name) throws Exception {
        Process proc = new ProcessBuilder("python3", "-c",
                "import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode(), end='')",
                p.toString(), name).redirectErrorStream(true).start();
        String out = new String(proc.getInputStream().readAllBytes());
        proc.waitFor();
        return out;
    }

    static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        int rc = p.waitFor();
        if (rc != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " exited " + rc + ": " + out);
        }
        return out;
    }
}
