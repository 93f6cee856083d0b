package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.coracle.cri.v1.AuthConfig;
import io.coracle.cri.v1.Image;
import io.coracle.cri.v1.ImageFilter;
import io.coracle.cri.v1.ImageFsInfoRequest;
import io.coracle.cri.v1.ImageFsInfoResponse;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.ImageStatusResponse;
import io.coracle.cri.v1.ListImagesRequest;
import io.coracle.cri.v1.ListImagesResponse;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.PullImageResponse;
import io.coracle.cri.v1.RemoveImageRequest;
import io.coracle.cri.v1.StreamImagesRequest;
import io.coracle.cri.v1.StreamImagesResponse;
import io.coracle.image.content.ManifestDocument;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CRI ImageService RPCs as crictl calls them. */
class CriImageServiceTest {
    @TempDir
    Path tmp;
    LocalRegistry registry;
    ImageService images;
    CriImageService cri;

    /** Collects what a unary or server-streaming call produced. */
    static final class Call<T> implements StreamObserver<T> {
        final List<T> values = new ArrayList<>();
        Throwable error;
        boolean completed;

        public void onNext(T v) {
            values.add(v);
        }

        public void onError(Throwable t) {
            error = t;
        }

        public void onCompleted() {
            completed = true;
        }

        T value() {
            if (error != null) {
                throw new AssertionError("call failed: " + error, error);
            }
            assertTrue(completed);
            return values.getFirst();
        }

        Status status() {
            assertTrue(error instanceof StatusRuntimeException, "expected a status error, got " + error);
            return ((StatusRuntimeException) error).getStatus();
        }
    }

    static <Q, R> Call<R> call(BiConsumer<Q, StreamObserver<R>> rpc, Q req) {
        Call<R> c = new Call<>();
        rpc.accept(req, c);
        return c;
    }

    static ImageSpec spec(String image) {
        return ImageSpec.newBuilder().setImage(image).build();
    }

    @BeforeEach
    void start() throws Exception {
        registry = LocalRegistry.start(tmp.resolve("registry"), true);
        images = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64")
                .withPinnedImages(List.of(registry.host() + "/app:pinned")));
        cri = new CriImageService(images);
    }

    @AfterEach
    void stop() throws Exception {
        images.close();
        registry.close();
    }

    @Test
    void pullStatusListRemoveFsInfo() throws Exception {
        RegistryPusher pusher = new RegistryPusher(registry.base(), LocalRegistry.USER, LocalRegistry.PASSWORD);
        TestImage img = ImagePullTest.busyboxImage();
        img.push(pusher, "app", "v1");
        img.push(pusher, "app", "pinned");
        TestImage named = new TestImage().layer(new TestLayer().file("x", "x").tar(), TestImage.Compression.ZSTD).user("nobody").build(false);
        named.push(pusher, "other", "1");
        AuthConfig auth = AuthConfig.newBuilder().setUsername(LocalRegistry.USER).setPassword(LocalRegistry.PASSWORD)
                .setServerAddress(registry.host()).build();

        // Not there yet: empty status, not an error.
        ImageStatusResponse missing = call(cri::imageStatus, ImageStatusRequest.newBuilder().setImage(spec(registry.host() + "/app:v1")).build()).value();
        assertFalse(missing.hasImage());

        Call<PullImageResponse> denied = call(cri::pullImage, PullImageRequest.newBuilder().setImage(spec(registry.host() + "/app:v1")).build());
        assertEquals(Status.Code.PERMISSION_DENIED, denied.status().getCode());

        PullImageResponse pulled = call(cri::pullImage, PullImageRequest.newBuilder().setImage(spec(registry.host() + "/app:v1")).setAuth(auth).build()).value();
        assertEquals(img.configDigest().toString(), pulled.getImageRef());
        call(cri::pullImage, PullImageRequest.newBuilder().setImage(spec(registry.host() + "/app:pinned")).setAuth(auth).build()).value();
        call(cri::pullImage, PullImageRequest.newBuilder().setImage(spec(registry.host() + "/other:1")).setAuth(auth).build()).value();

        ImageStatusResponse st = call(cri::imageStatus, ImageStatusRequest.newBuilder().setImage(spec(registry.host() + "/app:v1")).setVerbose(true).build()).value();
        Image i = st.getImage();
        assertEquals(pulled.getImageRef(), i.getId());
        assertEquals(List.of(registry.host() + "/app:v1", registry.host() + "/app:pinned"), i.getRepoTagsList());
        assertEquals(1000, i.getUid().getValue());
        assertTrue(i.getPinned());
        assertTrue(i.getSize() > 1_000_000);
        JsonNode info = ManifestDocument.JSON.readTree(st.getInfoOrThrow("info"));
        assertEquals("/bin/busybox", info.path("imageSpec").path("config").path("Entrypoint").get(0).asText());
        assertEquals(3, info.path("lowerDirs").size());

        Image other = call(cri::imageStatus, ImageStatusRequest.newBuilder().setImage(spec(registry.host() + "/other:1")).build()).value().getImage();
        assertEquals("nobody", other.getUsername());
        assertFalse(other.hasUid());
        assertFalse(other.getPinned());

        ListImagesResponse all = call(cri::listImages, ListImagesRequest.getDefaultInstance()).value();
        assertEquals(2, all.getImagesCount());
        ListImagesResponse filtered = call(cri::listImages, ListImagesRequest.newBuilder()
                .setFilter(ImageFilter.newBuilder().setImage(spec(registry.host() + "/other:1"))).build()).value();
        assertEquals(List.of(other.getId()), filtered.getImagesList().stream().map(Image::getId).toList());
        Call<StreamImagesResponse> streamed = call(cri::streamImages, StreamImagesRequest.getDefaultInstance());
        assertTrue(streamed.completed);
        assertEquals(2, streamed.values.stream().mapToInt(StreamImagesResponse::getImagesCount).sum());

        ImageFsInfoResponse fs = call(cri::imageFsInfo, ImageFsInfoRequest.getDefaultInstance()).value();
        assertEquals(tmp.resolve("root").toString(), fs.getImageFilesystems(0).getFsId().getMountpoint());
        assertTrue(fs.getImageFilesystems(0).getUsedBytes().getValue() > 1_000_000);
        assertTrue(fs.getImageFilesystems(0).getInodesUsed().getValue() > 10);

        // Remove one tag of two: untagged only. Then by ID. Then again: not an error.
        call(cri::removeImage, RemoveImageRequest.newBuilder().setImage(spec(registry.host() + "/app:pinned")).build()).value();
        assertEquals(List.of(registry.host() + "/app:v1"), call(cri::imageStatus, ImageStatusRequest.newBuilder()
                .setImage(spec(pulled.getImageRef())).build()).value().getImage().getRepoTagsList());
        call(cri::removeImage, RemoveImageRequest.newBuilder().setImage(spec(pulled.getImageRef())).build()).value();
        call(cri::removeImage, RemoveImageRequest.newBuilder().setImage(spec(pulled.getImageRef())).build()).value();
        assertFalse(call(cri::imageStatus, ImageStatusRequest.newBuilder().setImage(spec(pulled.getImageRef())).build()).value().hasImage());
        assertEquals(1, call(cri::listImages, ListImagesRequest.getDefaultInstance()).value().getImagesCount());
    }

    /**
     * Only a User whose uid would run is reported as a uid: a numeric User outside 0..2^31-1 must not pass
     * the kubelet's runAsNonRoot check as a non-zero uid. It is reported as a name (uid unset), as
     * containerd reports a non-numeric User, so the kubelet cannot verify it and refuses runAsNonRoot.
     */
    @Test
    void imageStatusReportsAUidOnlyForAnIdInRange() throws Exception {
        RegistryPusher pusher = new RegistryPusher(registry.base(), LocalRegistry.USER, LocalRegistry.PASSWORD);
        AuthConfig auth = AuthConfig.newBuilder().setUsername(LocalRegistry.USER).setPassword(LocalRegistry.PASSWORD)
                .setServerAddress(registry.host()).build();
        record Case(String user, Long uid, String username) {}
        List<Case> cases = List.of(
                new Case("4294967296", null, "4294967296"),
                new Case("4294967296:0", null, "4294967296"),
                new Case("2147483648", null, "2147483648"),
                new Case("99999999999999999999", null, "99999999999999999999"),
                new Case("-1", null, "-1"),
                new Case("+5", null, "+5"),
                new Case("0x10", null, "0x10"),
                new Case("2147483647", 2147483647L, ""),
                new Case("0", 0L, ""),
                new Case("1000:4294967296", 1000L, ""),
                new Case("app:app", null, "app"),
                new Case("", null, ""));
        int n = 0;
        for (Case c : cases) {
            TestImage img = new TestImage().layer(new TestLayer().file("x", "x").tar(), TestImage.Compression.GZIP)
                    .user(c.user()).build(false);
            img.push(pusher, "users", "u" + n);
            String ref = registry.host() + "/users:u" + n++;
            call(cri::pullImage, PullImageRequest.newBuilder().setImage(spec(ref)).setAuth(auth).build()).value();
            Image i = call(cri::imageStatus, ImageStatusRequest.newBuilder().setImage(spec(ref)).build()).value().getImage();
            assertEquals(c.uid() != null, i.hasUid(), c.user() + ": " + i);
            if (c.uid() != null) {
                assertEquals(c.uid(), i.getUid().getValue(), c.user());
            }
            assertEquals(c.username(), i.getUsername(), c.user());
        }
    }

    @Test
    void badInputGetsTheRightStatus() {
        Call<PullImageResponse> bad = call(cri::pullImage, PullImageRequest.newBuilder().setImage(spec("Not/A:ref!")).build());
        assertEquals(Status.Code.INVALID_ARGUMENT, bad.status().getCode());
        assertTrue(bad.status().getDescription().contains("\"Not/A:ref!\""), bad.status().getDescription());

        Call<PullImageResponse> empty = call(cri::pullImage, PullImageRequest.getDefaultInstance());
        assertEquals(Status.Code.INVALID_ARGUMENT, empty.status().getCode());
        assertTrue(empty.status().getDescription().contains("image"));

        assertEquals(Status.Code.INVALID_ARGUMENT, call(cri::imageStatus, ImageStatusRequest.getDefaultInstance()).status().getCode());
        assertEquals(Status.Code.INVALID_ARGUMENT, call(cri::removeImage, RemoveImageRequest.getDefaultInstance()).status().getCode());

        Call<PullImageResponse> unknown = call(cri::pullImage, PullImageRequest.newBuilder().setImage(spec(registry.host() + "/nope:1"))
                .setAuth(AuthConfig.newBuilder().setUsername(LocalRegistry.USER).setPassword(LocalRegistry.PASSWORD)).build());
        assertEquals(Status.Code.NOT_FOUND, unknown.status().getCode());
        assertTrue(unknown.status().getDescription().contains("nope"), unknown.status().getDescription());
    }
}
