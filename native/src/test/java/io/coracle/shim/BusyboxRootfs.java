package io.coracle.shim;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A minimal image layer built from Debian's dynamically linked busybox: the binary, the
 * libraries ldd lists, and a symlink per applet (so PATH lookups see real files).
 */
final class BusyboxRootfs {
    private BusyboxRootfs() {}

    /** The layer in a new directory under /tmp (its parent, to give to {@link #deleteTree}). */
    static Path buildInTemp() throws IOException, InterruptedException {
        return build(Files.createTempDirectory(Path.of("/tmp"), "coracle-test-layer-").resolve("busybox"));
    }

    /** Deletes dir and everything below it, never following a symlink. */
    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    static Path build(Path dir) throws IOException, InterruptedException {
        Path busybox = Path.of("/bin/busybox");
        Files.createDirectories(dir.resolve("bin"));
        Files.copy(busybox, dir.resolve("bin/busybox"), StandardCopyOption.COPY_ATTRIBUTES);
        Process ldd = new ProcessBuilder("ldd", busybox.toString()).redirectErrorStream(true).start();
        String libs = new String(ldd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (ldd.waitFor() != 0) {
            throw new IOException("ldd /bin/busybox: " + libs);
        }
        Matcher m = Pattern.compile("(/\\S+\\.so[.\\d]*)").matcher(libs);
        int copied = 0;
        while (m.find()) {
            Path lib = Path.of(m.group(1));
            Path target = dir.resolve(lib.toString().substring(1));
            Files.createDirectories(target.getParent());
            Files.copy(lib.toRealPath(), target, StandardCopyOption.REPLACE_EXISTING);
            copied++;
        }
        if (copied == 0) {
            throw new IOException("ldd listed no libraries: is /bin/busybox the static one? " + libs);
        }
        Process list = new ProcessBuilder(busybox.toString(), "--list").start();
        for (String applet : new String(list.getInputStream().readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
            if (!applet.isBlank() && !applet.equals("busybox")) {
                Files.createSymbolicLink(dir.resolve("bin").resolve(applet.trim()), Path.of("busybox"));
            }
        }
        list.waitFor();
        for (String d : new String[] {"proc", "sys", "dev", "tmp", "etc", "root"}) {
            Files.createDirectories(dir.resolve(d));
        }
        Files.writeString(dir.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        Files.writeString(dir.resolve("etc/group"), "root:x:0:\n");
        return dir;
    }
}
