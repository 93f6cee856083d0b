package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.coracle.image.content.ManifestDocument;
import io.coracle.image.content.MediaTypes;
import io.coracle.image.store.ImageRecord;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Offline import of OCI layout and docker save archives. */
class ImageImportTest {
    @TempDir
    Path tmp;

    static void add(TarArchiveOutputStream tar, String name, byte[] content) throws Exception {
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setSize(content.length);
        tar.putArchiveEntry(e);
        tar.write(content);
        tar.closeArchiveEntry();
    }

    @Test
    void importsOciLayout() throws Exception {
        TestImage img = ImagePullTest.busyboxImage();
        Path archive = tmp.resolve("oci.tar");
        try (OutputStream out = Files.newOutputStream(archive); TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            add(tar, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes());
            for (byte[] b : img.blobs) {
                add(tar, "blobs/sha256/" + Digest.of(b).hex(), b);
            }
            add(tar, "blobs/sha256/" + img.configDigest().hex(), img.config);
            add(tar, "blobs/sha256/" + img.manifestDigest().hex(), img.manifest);
            ObjectNode index = ManifestDocument.JSON.createObjectNode();
            index.put("schemaVersion", 2);
            index.put("mediaType", MediaTypes.OCI_INDEX);
            ObjectNode d = index.putArray("manifests").addObject();
            d.put("mediaType", MediaTypes.OCI_MANIFEST);
            d.put("digest", img.manifestDigest().toString());
            d.put("size", img.manifest.length);
            d.putObject("annotations").put("io.containerd.image.name", "example.com/tools/busybox:1.36")
                    .put("org.opencontainers.image.ref.name", "1.36");
            add(tar, "index.json", ManifestDocument.JSON.writeValueAsBytes(index));
        }
        try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")))) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            assertEquals(0, ImageImportCommand.run(s, archive, new PrintStream(out), System.err));
            assertTrue(out.toString().contains(img.configDigest().toString()));
            ImageRecord r = s.find("example.com/tools/busybox:1.36").orElseThrow();
            assertEquals(img.configDigest().toString(), r.id());
            assertEquals(3, s.lowerDirs(r.id()).size());
            assertEquals("from a zstd layer\n", Files.readString(s.lowerDirs(r.id()).getFirst().resolve("etc/motd")));
        }
        try (var left = Files.list(tmp.resolve("root/tmp"))) {
            assertTrue(left.findAny().isEmpty(), "import temp files are gone");
        }
    }

    @Test
    void importsDockerSave() throws Exception {
        byte[] layer1 = new TestLayer().file("bin/hello", "hi\n").tar();
        byte[] layer2 = new TestLayer().file(".wh.gone", "").file("etc/conf", "c\n").tar();
        ObjectNode cfg = ManifestDocument.JSON.createObjectNode();
        cfg.put("architecture", "amd64").put("os", "linux");
        cfg.putObject("config").put("User", "app").putArray("Cmd").add("/bin/hello");
        ArrayNode ids = cfg.putObject("rootfs").put("type", "layers").putArray("diff_ids");
        ids.add(Digest.of(layer1).toString()).add(Digest.of(layer2).toString());
        byte[] config = ManifestDocument.JSON.writeValueAsBytes(cfg);
        Path archive = tmp.resolve("save.tar");
        try (OutputStream out = Files.newOutputStream(archive); TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            String cfgName = Digest.of(config).hex() + ".json";
            add(tar, cfgName, config);
            add(tar, "aaa/layer.tar", layer1);
            add(tar, "bbb/layer.tar", layer2);
            ObjectNode m = ManifestDocument.JSON.createObjectNode();
            m.put("Config", cfgName);
            m.putArray("RepoTags").add("hello:latest").add("example.com/hello:1");
            m.putArray("Layers").add("aaa/layer.tar").add("bbb/layer.tar");
            add(tar, "manifest.json", ManifestDocument.JSON.writeValueAsBytes(List.of(m)));
        }
        try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")))) {
            List<ImageRecord> rs = s.importArchive(archive);
            assertEquals(1, rs.size());
            ImageRecord r = rs.getFirst();
            assertEquals(Digest.of(config).toString(), r.id());
            assertEquals(List.of("docker.io/library/hello:latest", "example.com/hello:1"), r.repoTags());
            assertEquals("app", r.user());
            assertEquals(List.of("/bin/hello"), s.imageConfig("hello").settings().cmd());
            assertEquals("hi\n", Files.readString(s.lowerDirs(r.id()).get(1).resolve("bin/hello")));
        }
    }

    private Path archive(String name, TarWriter body) throws Exception {
        Path archive = tmp.resolve(name);
        try (OutputStream out = Files.newOutputStream(archive); TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            body.write(tar);
        }
        return archive;
    }

    interface TarWriter {
        void write(TarArchiveOutputStream tar) throws Exception;
    }

    private static ImageException refused(ThrowingCall call) {
        return assertThrows(ImageException.class, call::run);
    }

    interface ThrowingCall {
        void run() throws Exception;
    }

    @Test
    void tooManyEntriesAreRefused() throws Exception {
        Path archive = archive("many.tar", tar -> {
            for (int i = 0; i < 11; i++) {
                add(tar, "f" + i, new byte[] {1});
            }
        });
        Path work = Files.createDirectories(tmp.resolve("work"));
        ImageException e = refused(() -> ImageImporter.extract(archive, work, new ImageImporter.Limits(10, 1 << 20, 1 << 10)));
        assertEquals(ImageException.Reason.TOO_LARGE, e.reason());
        assertTrue(e.getMessage().contains("more than 10 entries"), e.getMessage());
        ImageImporter.extract(archive, Files.createDirectories(tmp.resolve("work2")), new ImageImporter.Limits(11, 1 << 20, 1 << 10));
    }

    @Test
    void anArchiveUnpackingPastItsBoundIsRefusedEvenWhenGzipped() throws Exception {
        Path plain = archive("big.tar", tar -> {
            add(tar, "a", new byte[600_000]);
            add(tar, "b", new byte[600_000]);
        });
        Path gz = tmp.resolve("big.tar.gz");
        try (OutputStream out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
            Files.copy(plain, out);
        }
        assertTrue(Files.size(gz) < 10_000, "a small file that unpacks large");
        Path work = Files.createDirectories(tmp.resolve("work"));
        ImageException e = refused(() -> ImageImporter.extract(gz, work, new ImageImporter.Limits(100, 1_000_000, 1 << 10)));
        assertEquals(ImageException.Reason.TOO_LARGE, e.reason());
        assertTrue(e.getMessage().contains("more than 1000000 bytes"), e.getMessage());
    }

    @Test
    void entriesClimbingOutAndLinksOutOfTheArchiveReachNothingOnTheHost() throws Exception {
        Path outside = tmp.resolve("outside");
        Files.writeString(outside, "host file\n");
        for (String name : List.of("../outside", "a/../../outside", "/../outside")) {
            Path archive = archive("climb.tar", tar -> add(tar, name, "written".getBytes()));
            try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")))) {
                ImageException e = refused(() -> s.importArchive(archive));
                assertEquals(ImageException.Reason.HOSTILE_LAYER, e.reason(), name);
            }
            assertEquals("host file\n", Files.readString(outside), name);
        }
        // A manifest.json that is a symlink to a host file is not followed: the archive has no manifest.
        Path linked = archive("link.tar", tar -> {
            TarArchiveEntry l = new TarArchiveEntry("manifest.json", TarArchiveEntry.LF_SYMLINK);
            l.setLinkName("../../../../../../../../" + outside);
            tar.putArchiveEntry(l);
            tar.closeArchiveEntry();
        });
        try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")))) {
            ImageException e = refused(() -> s.importArchive(linked));
            assertEquals(ImageException.Reason.INVALID_ARGUMENT, e.reason());
            assertTrue(e.getMessage().contains("neither an OCI image layout"), e.getMessage());
        }
        try (var left = Files.list(tmp.resolve("root/tmp"))) {
            assertTrue(left.findAny().isEmpty(), "import temp files are gone");
        }
    }

    @Test
    void anOversizedManifestIsRefusedBeforeItIsRead() throws Exception {
        byte[] huge = new byte[(4 << 20) + 1];
        java.util.Arrays.fill(huge, (byte) ' ');
        huge[0] = '[';
        huge[huge.length - 1] = ']';
        Path archive = archive("huge.tar", tar -> add(tar, "manifest.json", huge));
        try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")))) {
            ImageException e = refused(() -> s.importArchive(archive));
            assertEquals(ImageException.Reason.TOO_LARGE, e.reason());
            assertTrue(e.getMessage().contains("manifest.json"), e.getMessage());
        }
    }
}
