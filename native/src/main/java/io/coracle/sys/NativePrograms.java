package io.coracle.sys;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where Coracle's C programs are: {@code -Dcoracle.libexec=DIR} if set, else {@code target/bin} of
 * the native module's build (its classes or jar in {@code target/}), else {@code libexec/} beside the
 * distribution's {@code lib/}.
 */
public record NativePrograms(Path dir) {
    public static final String PAUSE = "coracle-pause";
    public static final String SHIM = "coracle-shim";

    public static NativePrograms locate() {
        String override = System.getProperty("coracle.libexec");
        if (override != null && !override.isBlank()) {
            return new NativePrograms(Path.of(override));
        }
        Path codeSource;
        try {
            codeSource = Path.of(NativePrograms.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException | SecurityException | NullPointerException e) {
            throw new IllegalStateException("cannot tell where Coracle is installed; set -Dcoracle.libexec", e);
        }
        Path parent = codeSource.getParent();
        if (Files.isDirectory(codeSource) || parent.getFileName().toString().equals("target")) {
            // native/target/classes, or native/target/native-*.jar in a reactor build -> native/target/bin
            return new NativePrograms(parent.resolve("bin"));
        }
        // <dist>/lib/native-*.jar -> <dist>/libexec
        return new NativePrograms(parent.getParent().resolve("libexec"));
    }

    public Path pause() {
        return dir.resolve(PAUSE);
    }

    public Path shim() {
        return dir.resolve(SHIM);
    }

    /** The programs among {@code names} that are missing or not executable; empty when all are usable. */
    public List<String> missing(List<String> names) {
        List<String> missing = new ArrayList<>();
        for (String name : names) {
            Path p = dir.resolve(name);
            if (!Files.isRegularFile(p) || !Files.isExecutable(p)) {
                missing.add(p.toString());
            }
        }
        return missing;
    }
}
