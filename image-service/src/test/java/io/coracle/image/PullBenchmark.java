package io.coracle.image;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.coracle.image.registry.Credentials;
import io.coracle.image.unpack.LayerUnpacker;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pull+unpack of a ~200 MB, 5-layer image from a local registry into an empty store, against
 * {@code skopeo copy} of the same image to a directory. Run only on demand (see README.md).
 */
class PullBenchmark {
    @TempDir
    Path tmp;

    @Test
    void pullVersusSkopeoCopy() throws Exception {
        assumeTrue(Boolean.getBoolean("coracle.bench"), "set -Dcoracle.bench=true to run the benchmark");
        int runs = Integer.getInteger("coracle.bench.runs", 5);
        try (LocalRegistry registry = LocalRegistry.start(tmp.resolve("registry"))) {
            TestImage img = new TestImage();
            long compressed = 0;
            for (int i = 0; i < 5; i++) {
                byte[] gz = gzipFast(layer(i, 78L << 20));
                compressed += gz.length;
                img.layer(gz, TestImage.Compression.NONE);
            }
            // layer() above stored the gzip bytes as-is; fix the diff IDs and media types to match.
            fixUp(img);
            img.build(false);
            img.push(new RegistryPusher(registry.base()), "bench/big", "1");
            String ref = registry.host() + "/bench/big:1";
            System.out.printf("benchmark image: 5 layers, %.1f MB compressed%n", compressed / 1e6);

            List<Double> coracle = new ArrayList<>();
            List<Double> skopeo = new ArrayList<>();
            // Run 0 warms up both (JIT for the JVM, page cache for both); it is not counted.
            for (int r = 0; r <= runs; r++) {
                Path root = tmp.resolve("root" + r);
                long t0 = System.nanoTime();
                try (ImageService s = new ImageService(ImageServiceConfig.defaults(root).withPlatform("linux/amd64")
                        .withMaxConcurrentDownloads(Integer.getInteger("coracle.bench.downloads", 3)))) {
                    s.pull(ref, Credentials.ANONYMOUS);
                }
                double c = (System.nanoTime() - t0) / 1e9;
                LayerUnpacker.deleteTree(root);

                Path dir = tmp.resolve("skopeo" + r);
                long t1 = System.nanoTime();
                Process p = new ProcessBuilder("skopeo", "copy", "--insecure-policy", "--src-tls-verify=false",
                        "docker://" + ref, "dir:" + dir).redirectErrorStream(true).redirectOutput(tmp.resolve("skopeo.log").toFile()).start();
                if (p.waitFor() != 0) {
                    throw new IllegalStateException("skopeo failed: " + Files.readString(tmp.resolve("skopeo.log")));
                }
                double k = (System.nanoTime() - t1) / 1e9;
                LayerUnpacker.deleteTree(dir);
                if (r > 0) {
                    coracle.add(c);
                    skopeo.add(k);
                }
                System.out.printf("run %d%s: coracle pull+unpack %.2f s, skopeo copy %.2f s%n", r, r == 0 ? " (warm-up)" : "", c, k);
            }
            System.out.printf("MEDIAN over %d runs: coracle pull+unpack %.2f s, skopeo copy (download only) %.2f s%n",
                    runs, median(coracle), median(skopeo));
        }
    }

    /** ~size bytes of files: half random bytes, half repetitive text, so it compresses about 2:1 like real images. */
    static byte[] layer(int n, long size) {
        Random rnd = new Random(n);
        TestLayer l = new TestLayer().dir("layer" + n);
        long written = 0;
        int f = 0;
        while (written < size) {
            int len = 4096 + rnd.nextInt(1 << 20);
            byte[] b = new byte[len];
            rnd.nextBytes(b);
            byte[] text = ("line " + n + " of a config file with some words in it " + f + "\n").getBytes(StandardCharsets.US_ASCII);
            for (int i = len / 2; i < len; i++) {
                b[i] = text[i % text.length];
            }
            l.file("layer" + n + "/dir" + (f % 16) + "/file" + f, b, 0644, 0, 0);
            written += len;
            f++;
        }
        return l.tar();
    }

    static byte[] gzipFast(byte[] raw) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length / 2);
        try (GZIPOutputStream gz = new GZIPOutputStream(out, 1 << 16) {
            {
                def.setLevel(Deflater.BEST_SPEED);
            }
        }) {
            gz.write(raw);
        }
        return out.toByteArray();
    }

    /** Layers were added pre-compressed: diff IDs must be of the uncompressed tars. */
    static void fixUp(TestImage img) throws Exception {
        for (int i = 0; i < img.blobs.size(); i++) {
            try (var in = new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(img.blobs.get(i)))) {
                img.diffIds.set(i, Digest.of(in.readAllBytes()));
            }
            img.layerTypes.set(i, io.coracle.image.content.MediaTypes.OCI_LAYER_GZIP);
        }
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        return s.size() % 2 == 1 ? s.get(s.size() / 2) : (s.get(s.size() / 2 - 1) + s.get(s.size() / 2)) / 2;
    }
}
