package io.coracle.image;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.coracle.cri.v1.AuthConfig;
import io.coracle.cri.v1.FilesystemIdentifier;
import io.coracle.cri.v1.Image;
import io.coracle.cri.v1.ImageFsInfoRequest;
import io.coracle.cri.v1.ImageFsInfoResponse;
import io.coracle.cri.v1.ImageServiceGrpc;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.ImageStatusResponse;
import io.coracle.cri.v1.ListImagesRequest;
import io.coracle.cri.v1.ListImagesResponse;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.PullImageResponse;
import io.coracle.cri.v1.RemoveImageRequest;
import io.coracle.cri.v1.RemoveImageResponse;
import io.coracle.cri.v1.StreamImagesRequest;
import io.coracle.cri.v1.StreamImagesResponse;
import io.coracle.cri.v1.UInt64Value;
import io.coracle.image.content.ManifestDocument;
import io.coracle.image.registry.Credentials;
import io.coracle.image.store.ImageRecord;
import io.coracle.cri.CriStatus;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import java.util.logging.Logger;

/** The CRI v1 ImageService over {@link ImageService}; the daemon registers this with its gRPC server. */
public final class CriImageService extends ImageServiceGrpc.ImageServiceImplBase {
    private static final Logger LOG = Logger.getLogger(CriImageService.class.getName());
    private static final int STREAM_BATCH = 100;

    private final ImageService images;

    public CriImageService(ImageService images) {
        this.images = images;
    }

    @Override
    public void pullImage(PullImageRequest req, StreamObserver<PullImageResponse> out) {
        answer(out, "PullImage", () -> {
            String ref = requireImage(req.hasImage() ? req.getImage().getImage() : "");
            AuthConfig a = req.getAuth();
            Credentials creds = req.hasAuth()
                    ? Credentials.of(a.getUsername(), a.getPassword(), a.getAuth(), a.getIdentityToken(), a.getRegistryToken())
                    : Credentials.ANONYMOUS;
            if (!creds.isAnonymous() && !Credentials.serveRegistry(a.getServerAddress(), ImageReference.parse(ref).registry())) {
                // The kubelet names the registry its secret is for; never hand it to another one.
                LOG.info("PullImage " + ref + ": the request's credentials are for another registry, not used");
                creds = Credentials.ANONYMOUS;
            }
            ImageRecord r = images.pull(ref, creds);
            return PullImageResponse.newBuilder().setImageRef(r.id()).build();
        });
    }

    @Override
    public void imageStatus(ImageStatusRequest req, StreamObserver<ImageStatusResponse> out) {
        answer(out, "ImageStatus", () -> {
            String ref = requireImage(req.hasImage() ? req.getImage().getImage() : "");
            Optional<ImageRecord> found = images.find(ref);
            if (found.isEmpty()) {
                return ImageStatusResponse.getDefaultInstance();
            }
            ImageRecord r = found.get();
            ImageStatusResponse.Builder b = ImageStatusResponse.newBuilder().setImage(CriImageView.of(r, images));
            if (req.getVerbose()) {
                b.putInfo("info", verboseInfo(r));
            }
            return b.build();
        });
    }

    @Override
    public void listImages(ListImagesRequest req, StreamObserver<ListImagesResponse> out) {
        answer(out, "ListImages", () -> ListImagesResponse.newBuilder().addAllImages(select(filterOf(req.hasFilter(), req.getFilter()))).build());
    }

    @Override
    public void streamImages(StreamImagesRequest req, StreamObserver<StreamImagesResponse> out) {
        List<Image> all;
        try {
            all = select(filterOf(req.hasFilter(), req.getFilter()));
        } catch (RuntimeException e) {
            out.onError(CriStatus.toGrpc("StreamImages", e));
            return;
        }
        for (int i = 0; i < all.size(); i += STREAM_BATCH) {
            out.onNext(StreamImagesResponse.newBuilder().addAllImages(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
        }
        out.onCompleted();
    }

    @Override
    public void removeImage(RemoveImageRequest req, StreamObserver<RemoveImageResponse> out) {
        answer(out, "RemoveImage", () -> {
            images.remove(requireImage(req.hasImage() ? req.getImage().getImage() : ""));
            return RemoveImageResponse.getDefaultInstance();
        });
    }

    @Override
    public void imageFsInfo(ImageFsInfoRequest req, StreamObserver<ImageFsInfoResponse> out) {
        answer(out, "ImageFsInfo", () -> {
            FilesystemUsage.Report r = images.usage();
            ImageFsInfoResponse.Builder b = ImageFsInfoResponse.newBuilder().addImageFilesystems(cri(r.timestampNanos(), r.images()));
            if (r.containers() != null) {
                b.addContainerFilesystems(cri(r.timestampNanos(), r.containers()));
            }
            return b.build();
        });
    }

    private static io.coracle.cri.v1.FilesystemUsage cri(long ts, FilesystemUsage.Usage u) {
        return io.coracle.cri.v1.FilesystemUsage.newBuilder()
                .setTimestamp(ts)
                .setFsId(FilesystemIdentifier.newBuilder().setMountpoint(u.mountpoint().toString()))
                .setUsedBytes(UInt64Value.newBuilder().setValue(u.bytes()))
                .setInodesUsed(UInt64Value.newBuilder().setValue(u.inodes()))
                .build();
    }

    private static String filterOf(boolean has, io.coracle.cri.v1.ImageFilter f) {
        String image = has && f.hasImage() ? f.getImage().getImage() : "";
        return image.isBlank() ? "" : requireImage(image);
    }

    private List<Image> select(String filter) {
        if (!filter.isEmpty()) {
            return images.find(filter).map(r -> List.of(CriImageView.of(r, images))).orElse(List.of());
        }
        return images.list().stream().map(r -> CriImageView.of(r, images)).toList();
    }

    private String verboseInfo(ImageRecord r) {
        try {
            ObjectNode info = ManifestDocument.JSON.createObjectNode();
            info.put("id", r.id());
            info.put("manifestDigest", r.manifestDigest());
            info.putPOJO("chainIDs", r.chainIds());
            info.putPOJO("lowerDirs", images.lowerDirs(r.id()).stream().map(Object::toString).toList());
            info.set("imageSpec", ManifestDocument.JSON.readTree(images.imageConfigJson(r.id())));
            return ManifestDocument.JSON.writeValueAsString(info);
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, "cannot render verbose info of " + r.id() + ": " + e.getMessage(), e);
        }
    }

    /** A non-empty image ID (or ID prefix) or a valid reference; else INVALID_ARGUMENT naming it. */
    private static String requireImage(String image) {
        if (image == null || image.isBlank()) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "image.image is empty: name the image (reference or ID)");
        }
        String s = image.trim();
        if (!s.matches("(sha256:)?[a-f0-9]{1,64}")) {
            ImageReference.parse(s);
        }
        return s;
    }

    private <T> void answer(StreamObserver<T> out, String rpc, Supplier<T> handler) {
        T response;
        try {
            response = handler.get();
        } catch (RuntimeException e) {
            out.onError(CriStatus.toGrpc(rpc, e));
            return;
        }
        out.onNext(response);
        out.onCompleted();
    }
}
