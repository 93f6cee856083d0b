package io.coracle.image;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.coracle.image.content.ManifestDocument;
import io.coracle.image.content.MediaTypes;
import io.coracle.testing.RegistryPusher;
import java.util.ArrayList;
import java.util.List;

/** An image built in a test: layer blobs, config and manifest bytes, ready to push. */
final class TestImage {
    enum Compression { NONE, GZIP, ZSTD }

    final List<byte[]> blobs = new ArrayList<>();
    final List<String> layerTypes = new ArrayList<>();
    final List<Digest> diffIds = new ArrayList<>();
    byte[] config;
    byte[] manifest;
    String architecture = "amd64";
    String variant;
    String user = "";

    TestImage layer(byte[] tar, Compression c) {
        diffIds.add(Digest.of(tar));
        switch (c) {
            case NONE -> { blobs.add(tar); layerTypes.add(MediaTypes.OCI_LAYER); }
            case GZIP -> { blobs.add(TestLayer.gzip(tar)); layerTypes.add(MediaTypes.OCI_LAYER_GZIP); }
            case ZSTD -> { blobs.add(TestLayer.zstd(tar)); layerTypes.add(MediaTypes.OCI_LAYER_ZSTD); }
        }
        return this;
    }

    TestImage arch(String arch, String v) {
        this.architecture = arch;
        this.variant = v;
        return this;
    }

    TestImage user(String u) {
        this.user = u;
        return this;
    }

    /** Builds config and manifest (OCI, or Docker schema 2 if {@code docker}). */
    TestImage build(boolean docker) {
        var json = ManifestDocument.JSON;
        ObjectNode cfg = json.createObjectNode();
        cfg.put("architecture", architecture);
        if (variant != null) {
            cfg.put("variant", variant);
        }
        cfg.put("os", "linux");
        ObjectNode c = cfg.putObject("config");
        c.put("User", user);
        c.putArray("Env").add("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").add("GREETING=hello");
        c.putArray("Entrypoint").add("/bin/busybox");
        c.putArray("Cmd").add("sh");
        c.put("WorkingDir", "/work");
        c.put("StopSignal", "SIGTERM");
        c.putObject("ExposedPorts").putObject("8080/tcp");
        c.putObject("Labels").put("org.example.arch", architecture);
        ObjectNode rootfs = cfg.putObject("rootfs");
        rootfs.put("type", "layers");
        ArrayNode ids = rootfs.putArray("diff_ids");
        diffIds.forEach(d -> ids.add(d.toString()));
        try {
            config = json.writeValueAsBytes(cfg);
            ObjectNode m = json.createObjectNode();
            m.put("schemaVersion", 2);
            m.put("mediaType", docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST);
            ObjectNode cd = m.putObject("config");
            cd.put("mediaType", docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG);
            cd.put("digest", Digest.of(config).toString());
            cd.put("size", config.length);
            ArrayNode layers = m.putArray("layers");
            for (int i = 0; i < blobs.size(); i++) {
                ObjectNode l = layers.addObject();
                l.put("mediaType", docker ? MediaTypes.DOCKER_LAYER_GZIP : layerTypes.get(i));
                l.put("digest", Digest.of(blobs.get(i)).toString());
                l.put("size", blobs.get(i).length);
            }
            manifest = json.writeValueAsBytes(m);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return this;
    }

    String mediaType() {
        try {
            return ManifestDocument.JSON.readTree(manifest).path("mediaType").asText();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    Digest configDigest() {
        return Digest.of(config);
    }

    Digest manifestDigest() {
        return Digest.of(manifest);
    }

    /** Pushes blobs, config and manifest; tags it with {@code tag} (or pushes by digest if null). */
    Digest push(RegistryPusher pusher, String repo, String tag) throws Exception {
        for (byte[] b : blobs) {
            pusher.pushBlob(repo, b);
        }
        pusher.pushBlob(repo, config);
        return Digest.parse(pusher.pushManifest(repo, tag != null ? tag : manifestDigest().toString(), mediaType(), manifest));
    }

    /** Builds and pushes an OCI index of {@code images} (already pushed by digest), tagged {@code tag}. */
    static Digest pushIndex(RegistryPusher pusher, String repo, String tag, List<TestImage> images, boolean withAttestation) throws Exception {
        var json = ManifestDocument.JSON;
        ObjectNode idx = json.createObjectNode();
        idx.put("schemaVersion", 2);
        idx.put("mediaType", MediaTypes.OCI_INDEX);
        ArrayNode ms = idx.putArray("manifests");
        for (TestImage i : images) {
            ObjectNode d = ms.addObject();
            d.put("mediaType", i.mediaType());
            d.put("digest", i.manifestDigest().toString());
            d.put("size", i.manifest.length);
            ObjectNode p = d.putObject("platform");
            p.put("architecture", i.architecture);
            p.put("os", "linux");
            if (i.variant != null) {
                p.put("variant", i.variant);
            }
        }
        if (withAttestation) {
            ObjectNode d = ms.addObject();
            d.put("mediaType", images.getFirst().mediaType());
            d.put("digest", images.getFirst().manifestDigest().toString());
            d.put("size", images.getFirst().manifest.length);
            d.putObject("platform").put("architecture", "unknown").put("os", "unknown");
        }
        byte[] bytes = json.writeValueAsBytes(idx);
        return Digest.parse(pusher.pushManifest(repo, tag, MediaTypes.OCI_INDEX, bytes));
    }
}
