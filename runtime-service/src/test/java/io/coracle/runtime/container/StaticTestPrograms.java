package io.coracle.runtime.container;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** The C probe programs of these tests (src/test/resources/seccomp/NAME.c), compiled static into dir. */
final class StaticTestPrograms {
    private StaticTestPrograms() {
    }

    static byte[] compile(Path dir, String name) throws Exception {
        Path src = dir.resolve(name + ".c"), bin = dir.resolve(name);
        try (InputStream in = StaticTestPrograms.class.getResourceAsStream("/seccomp/" + name + ".c")) {
            Files.write(src, in.readAllBytes());
        }
        Process gcc = new ProcessBuilder("gcc", "-static", "-O2", "-o", bin.toString(), src.toString())
                .redirectErrorStream(true).start();
        String out = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, gcc.waitFor(), out);
        return Files.readAllBytes(bin);
    }
}
