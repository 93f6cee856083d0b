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
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A test image built from this machine's dynamically linked busybox (Debian's {@code busybox}
 * package) and the libraries it loads, with an applet hard link per command (as busybox images have
 * them: masking one applet must not mask the others), /etc/passwd and
 * /etc/group; pushed as an OCI image to a {@link LocalRegistry}.
 */
public final class BusyboxImage {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, byte[]> extraFiles = new LinkedHashMap<>();
    private List<String> cmd = List.of("sh");
    private List<String> entrypoint;
    private String user;
    private String stopSignal;
    private String passwd = """
            root:x:0:0:root:/root:/bin/sh
            nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
            app:x:1000:1000:app:/home/app:/bin/sh
            """;
    private String group = """
            root:x:0:
            nogroup:x:65534:
            app:x:1000:
            extra:x:1234:app
            """;

    public BusyboxImage cmd(String... cmd) {
        this.cmd = List.of(cmd);
        return this;
    }

    public BusyboxImage entrypoint(String... entrypoint) {
        this.entrypoint = List.of(entrypoint);
        return this;
    }

    public BusyboxImage user(String user) {
        this.user = user;
        return this;
    }

    public BusyboxImage stopSignal(String signal) {
        this.stopSignal = signal;
        return this;
    }

    public BusyboxImage file(String path, String content) {
        extraFiles.put(path.replaceFirst("^/", ""), content.getBytes(StandardCharsets.UTF_8));
        return this;
    }

    /** Builds the layer, config and manifest, pushes them, and returns the manifest digest. */
    public String push(LocalRegistry registry, String repo, String tag) throws IOException, InterruptedException {
        byte[] layer = layer();
        String layerDigest = registry.pushBlob(repo, layer);
        Map<String, Object> process = new LinkedHashMap<>();
        process.put("Env", List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        process.put("Cmd", cmd);
        if (entrypoint != null) {
            process.put("Entrypoint", entrypoint);
        }
        if (user != null) {
            process.put("User", user);
        }
        if (stopSignal != null) {
            process.put("StopSignal", stopSignal);
        }
        byte[] config = JSON.writeValueAsBytes(Map.of("architecture", "amd64", "os", "linux", "config", process,
                "rootfs", Map.of("type", "layers", "diff_ids", List.of(LocalRegistry.digest(layer)))));
        String configDigest = registry.pushBlob(repo, config);
        byte[] manifest = JSON.writeValueAsBytes(Map.of(
                "schemaVersion", 2,
                "mediaType", "application/vnd.oci.image.manifest.v1+json",
                "config", Map.of("mediaType", "application/vnd.oci.image.config.v1+json", "digest", configDigest,
                        "size", config.length),
                "layers", List.of(Map.of("mediaType", "application/vnd.oci.image.layer.v1.tar", "digest", layerDigest,
                        "size", layer.length))));
        return registry.pushManifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", manifest);
    }

    private byte[] layer() throws IOException, InterruptedException {
        TarWriter tar = new TarWriter();
        TreeSet<String> dirs = new TreeSet<>(List.of("bin", "etc", "home", "home/app", "lib", "lib64", "proc", "root",
                "sys", "dev", "usr", "usr/bin", "var", "tmp"));
        List<Path> libs = libraries();
        for (Path lib : libs) {
            Path parent = Path.of(lib.toString().substring(1)).getParent();
            for (Path p = parent; p != null; p = p.getParent()) {
                dirs.add(p.toString());
            }
        }
        for (String extra : extraFiles.keySet()) {
            for (Path p = Path.of(extra).getParent(); p != null; p = p.getParent()) {
                dirs.add(p.toString());
            }
        }
        for (String d : dirs) {
            tar.dir(d, d.equals("tmp") ? 01777 : 0755);
        }
        tar.file("bin/busybox", 0755, Files.readAllBytes(Path.of("/bin/busybox")));
        for (Path lib : libs) {
            tar.file(lib.toString().substring(1), 0755, Files.readAllBytes(lib.toRealPath()));
        }
        for (String applet : applets()) {
            if (!applet.equals("busybox")) {
                tar.hardlink("bin/" + applet, "bin/busybox");
            }
        }
        tar.file("etc/passwd", 0644, passwd.getBytes(StandardCharsets.UTF_8));
        tar.file("etc/group", 0644, group.getBytes(StandardCharsets.UTF_8));
        for (Map.Entry<String, byte[]> f : extraFiles.entrySet()) {
            tar.file(f.getKey(), 0755, f.getValue());
        }
        return tar.finish();
    }

    /** The shared libraries busybox loads, by the path the dynamic loader looks them up at. */
    private static List<Path> libraries() throws IOException, InterruptedException {
        Process ldd = new ProcessBuilder("ldd", "/bin/busybox").redirectErrorStream(true).start();
        String out = new String(ldd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        ldd.waitFor();
        List<Path> libs = new ArrayList<>();
        Matcher m = Pattern.compile("(/\\S+) \\(0x").matcher(out);
        while (m.find()) {
            libs.add(Path.of(m.group(1)));
        }
        if (libs.isEmpty()) {
            throw new IOException("/bin/busybox is not dynamically linked (install Debian's busybox package): " + out);
        }
        return libs;
    }

    private static List<String> applets() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("/bin/busybox", "--list").start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        return out.lines().filter(s -> !s.isBlank() && !s.contains("/")).toList();
    }
}
