package io.coracle.runtime.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds single-layer OCI test images from this machine's own programs (Debian packages) and the
 * libraries they load, and pushes them to a {@link LocalRegistry}. {@link #busybox()} is the usual
 * base: Debian's dynamically linked busybox with a hard link per applet (as busybox images have
 * them, so masking one applet does not mask the others), /etc/passwd and /etc/group.
 */
public final class ImageBuilder {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One entry of the layer: a directory, file, hard link or symlink. */
    private record Entry(char type, int mode, byte[] content, String link) {}

    private final TreeMap<String, Entry> entries = new TreeMap<>();
    private final Map<String, Object> config = new LinkedHashMap<>();

    public ImageBuilder() {
        config.put("Env", List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        for (String d : List.of("bin", "etc", "home", "lib", "lib64", "proc", "root", "sys", "dev", "usr", "usr/bin",
                "usr/local", "usr/local/bin", "var", "var/run", "run")) {
            dir(d, 0755);
        }
        dir("tmp", 01777);
    }

    /** Debian's busybox, every applet hard-linked in /bin, and root, nobody and app users. */
    public static ImageBuilder busybox() throws IOException, InterruptedException {
        ImageBuilder b = new ImageBuilder().hostProgram("/bin/busybox", "bin/busybox");
        for (String applet : applets()) {
            if (!applet.equals("busybox")) {
                b.hardlink("bin/" + applet, "bin/busybox");
            }
        }
        return b.text("etc/passwd", 0644, """
                        root:x:0:0:root:/root:/bin/sh
                        daemon:x:1:1:daemon:/usr/sbin:/bin/sh
                        www-data:x:33:33:www-data:/var/www:/bin/sh
                        nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
                        app:x:1000:1000:app:/home/app:/bin/sh
                        """)
                .text("etc/group", 0644, """
                        root:x:0:
                        daemon:x:1:
                        www-data:x:33:
                        nogroup:x:65534:
                        app:x:1000:
                        extra:x:1234:app
                        """)
                .cmd("sh");
    }

    public ImageBuilder dir(String path, int mode) {
        String p = strip(path);
        for (Path parent = Path.of(p).getParent(); parent != null; parent = parent.getParent()) {
            entries.putIfAbsent(parent.toString(), new Entry('5', 0755, new byte[0], ""));
        }
        entries.put(p, new Entry('5', mode, new byte[0], ""));
        return this;
    }

    public ImageBuilder file(String path, int mode, byte[] content) {
        String p = strip(path);
        Path parent = Path.of(p).getParent();
        if (parent != null && !entries.containsKey(parent.toString())) {
            dir(parent.toString(), 0755);
        }
        entries.put(p, new Entry('0', mode, content, ""));
        return this;
    }

    public ImageBuilder text(String path, int mode, String content) {
        return file(path, mode, content.getBytes(StandardCharsets.UTF_8));
    }

    public ImageBuilder hardlink(String path, String target) {
        entries.put(strip(path), new Entry('1', 0755, new byte[0], strip(target)));
        return this;
    }

    public ImageBuilder symlink(String path, String target) {
        entries.put(strip(path), new Entry('2', 0777, new byte[0], target));
        return this;
    }

    /** A program of this machine at {@code imagePath}, with every shared library it loads at its own path. */
    public ImageBuilder hostProgram(String hostPath, String imagePath) throws IOException, InterruptedException {
        file(imagePath, 0755, Files.readAllBytes(Path.of(hostPath)));
        return libraries(hostPath);
    }

    /** The shared libraries {@code hostPath} (a program or a module) loads. */
    public ImageBuilder libraries(String hostPath) throws IOException, InterruptedException {
        Process ldd = new ProcessBuilder("ldd", hostPath).redirectErrorStream(true).start();
        String out = new String(ldd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        ldd.waitFor();
        Matcher m = Pattern.compile("(/\\S+) \\(0x").matcher(out);
        while (m.find()) {
            Path lib = Path.of(m.group(1));
            file(lib.toString(), 0755, Files.readAllBytes(lib.toRealPath()));
        }
        return this;
    }

    public ImageBuilder cmd(String... cmd) {
        config.put("Cmd", List.of(cmd));
        return this;
    }

    public ImageBuilder entrypoint(String... entrypoint) {
        config.put("Entrypoint", List.of(entrypoint));
        return this;
    }

    public ImageBuilder user(String user) {
        config.put("User", user);
        return this;
    }

    public ImageBuilder stopSignal(String signal) {
        config.put("StopSignal", signal);
        return this;
    }

    public ImageBuilder workingDir(String dir) {
        config.put("WorkingDir", dir);
        return this;
    }

    /** Pushes the image under each tag; returns the manifest digest. */
    public String push(LocalRegistry registry, String repo, String... tags) throws IOException, InterruptedException {
        byte[] layer = layer();
        String layerDigest = registry.pushBlob(repo, layer);
        byte[] configJson = JSON.writeValueAsBytes(Map.of("architecture", "amd64", "os", "linux", "config", config,
                "rootfs", Map.of("type", "layers", "diff_ids", List.of(LocalRegistry.digest(layer)))));
        String configDigest = registry.pushBlob(repo, configJson);
        byte[] manifest = JSON.writeValueAsBytes(Map.of(
                "schemaVersion", 2,
                "mediaType", "application/vnd.oci.image.manifest.v1+json",
                "config", Map.of("mediaType", "application/vnd.oci.image.config.v1+json", "digest", configDigest,
                        "size", configJson.length),
                "layers", List.of(Map.of("mediaType", "application/vnd.oci.image.layer.v1.tar", "digest", layerDigest,
                        "size", layer.length))));
        String digest = null;
        for (String tag : tags) {
            digest = registry.pushManifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", manifest);
        }
        return digest;
    }

    private byte[] layer() {
        TarWriter tar = new TarWriter();
        List<Map.Entry<String, Entry>> links = new ArrayList<>();
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            Entry x = e.getValue();
            switch (x.type()) {
                case '5' -> tar.dir(e.getKey(), x.mode());
                case '0' -> tar.file(e.getKey(), x.mode(), x.content());
                default -> links.add(e); // links after their targets
            }
        }
        for (Map.Entry<String, Entry> e : links) {
            if (e.getValue().type() == '1') {
                tar.hardlink(e.getKey(), e.getValue().link());
            } else {
                tar.symlink(e.getKey(), e.getValue().link());
            }
        }
        return tar.finish();
    }

    private static String strip(String path) {
        return path.replaceFirst("^/+", "");
    }

    private static List<String> applets() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("/bin/busybox", "--list").start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        return out.lines().filter(s -> !s.isBlank() && !s.contains("/")).toList();
    }
}
