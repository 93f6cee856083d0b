package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.testing.DaemonProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** coracle-shim's command line: what a person or script running it by hand sees on bad input. */
class ShimCommandLineTest {
    private record Result(int exit, String stderr) {}

    private static Result shim(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(TestContainer.PROGRAMS.shim().toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        return new Result(p.exitValue(), err);
    }

    @Test
    void stateDirWhoseRealPathIsTooLongIsNamedWithRealpathAndErrno() throws Exception {
        // The state path is short, but through a symlink to a deep directory it resolves to more
        // than PATH_MAX: mkdir works along the way, realpath fails with ENAMETOOLONG.
        Path base = Files.createTempDirectory("shim-cli");
        Path deep = base;
        while (deep.toString().length() < 3800) {
            deep = deep.resolve("d".repeat(200));
        }
        Files.createDirectories(deep);
        Path link = Files.createSymbolicLink(base.resolve("link"), deep);
        Path far = link.resolve("e".repeat(250)).resolve("f".repeat(250));
        Path state = far.resolve("state");
        try {
            Result r = shim("create", "--bundle", base.toString(), "--state", state.toString());
            assertEquals(1, r.exit(), r.stderr());
            // strerror(ENAMETOOLONG): "File name too long" (glibc) or "Filename too long" (musl).
            assertTrue(r.stderr().matches("coracle-shim: state dir: realpath \\Q" + state + "\\E: File ?name too long\n"),
                    r.stderr());
        } finally {
            // Below the link the real path is too long for Files.walk: remove that part through it.
            Files.deleteIfExists(state);
            Files.deleteIfExists(far);
            Files.deleteIfExists(far.getParent());
            DaemonProcess.deleteTree(base);
        }
    }

    @Test
    void configJsonWithANulOrTooLargeIsRefusedNamingWhy() throws Exception {
        Path base = Files.createTempDirectory("shim-cli");
        Path state = base.resolve("state");
        Path config = base.resolve("config.json");
        try {
            // "/bin/sh\u0000-x" would be "/bin/sh" in C: refused, never cut short.
            Files.writeString(config, "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},"
                    + "\"process\":{\"args\":[\"/bin/sh\\u0000-x\"],\"cwd\":\"/\"}}");
            Result r = shim("create", "--bundle", base.toString(), "--state", state.toString());
            assertEquals(65, r.exit(), "the spec is at fault: class invalid (EX_DATAERR) " + r.stderr());
            assertEquals("coracle-shim: " + config + ": invalid JSON at offset 74: NUL in string\n", r.stderr());
            // A raw NUL byte after a complete document.
            Files.write(config, "{\"ociVersion\":\"1.0.2\"}\0{}".getBytes(StandardCharsets.UTF_8));
            r = shim("create", "--bundle", base.toString(), "--state", state.toString());
            assertEquals("coracle-shim: " + config + ": invalid JSON at offset 22: NUL byte in the document\n", r.stderr());
            // Larger than 32 MiB: not read past the limit.
            try (var f = new java.io.RandomAccessFile(config.toFile(), "rw")) {
                f.setLength((32L << 20) + 1);
            }
            r = shim("create", "--bundle", base.toString(), "--state", state.toString());
            assertEquals(1, r.exit(), "a file the daemon wrote that cannot be read: class internal " + r.stderr());
            assertTrue(r.stderr().matches("coracle-shim: read \\Q" + config + "\\E: larger than 33554432 bytes: File too large\n"),
                    r.stderr());
        } finally {
            DaemonProcess.deleteTree(base);
        }
    }

    @Test
    void badArgumentsAreRefusedBeforeAnythingIsCreated() throws Exception {
        Path base = Files.createTempDirectory("shim-cli");
        Path state = base.resolve("state");
        try {
            Result r = shim("create", "--bundle", base.toString(), "--state", state.toString(), "--runtime", "runc");
            assertEquals(2, r.exit(), r.stderr());
            assertEquals("coracle-shim: create: --runtime runc: not an absolute path\n", r.stderr());
            r = shim("create", "--state", state.toString());
            assertEquals(2, r.exit(), r.stderr());
            assertEquals("coracle-shim: create: --bundle and --state are required\n", r.stderr());
            r = shim("create", "--bundle", base.toString(), "--state", state.toString(), "--bogus");
            assertEquals(2, r.exit(), r.stderr());
            assertEquals("coracle-shim: create: unknown or incomplete argument '--bogus'\n", r.stderr());
            assertFalse(Files.exists(state), "state dir created for a refused command line");
            r = shim();
            assertEquals(2, r.exit(), r.stderr());
            assertTrue(r.stderr().startsWith("usage: coracle-shim create|exec|ctl|dial"), r.stderr());
        } finally {
            DaemonProcess.deleteTree(base);
        }
    }
}
