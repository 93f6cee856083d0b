package io.coracle.runtime.checkpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Whether CRIU can checkpoint on this host, probed once at start-up with {@code criu check}: its
 * binary, version, and, when it cannot, the reason in CRIU's own words (its error lines).
 *
 * @param binary  the criu executable, or null when none is installed
 * @param version "3.17.1", or "" when unknown
 * @param usable  {@code criu check} passed
 * @param reason  why not (CRIU's error lines), "" when usable
 */
public record CriuSupport(Path binary, String version, boolean usable, String reason) {
    private static final Logger LOG = Logger.getLogger(CriuSupport.class.getName());
    private static final List<Path> PLACES = List.of(Path.of("/usr/sbin/criu"), Path.of("/usr/bin/criu"),
            Path.of("/sbin/criu"), Path.of("/usr/local/sbin/criu"), Path.of("/usr/local/bin/criu"));
    static final Duration PROBE_TIMEOUT = Duration.ofSeconds(20);
    /** Bytes of a CRIU output or log read at most. */
    static final int MAX_OUTPUT = 1 << 20;

    public static Optional<Path> find() {
        return PLACES.stream().filter(Files::isExecutable).findFirst();
    }

    /** {@link #probe(Path)} of the first criu in the usual places. */
    public static CriuSupport probe() {
        return probe(null);
    }

    /**
     * Runs {@code criu --version} and {@code criu check} of {@code configured} (config key
     * checkpoint.criu; null: the first in the usual places); logs one line saying what it found.
     */
    public static CriuSupport probe(Path configured) {
        Optional<Path> binary = configured == null ? find() : Optional.of(configured).filter(Files::isExecutable);
        if (binary.isEmpty() && configured != null) {
            CriuSupport none = new CriuSupport(null, "", false, "criu is not executable at " + configured
                    + " (checkpoint.criu)");
            LOG.info("checkpoint/restore: " + none.describe());
            return none;
        }
        if (binary.isEmpty()) {
            CriuSupport none = new CriuSupport(null, "", false, "criu is not installed (looked in " + PLACES + ")");
            LOG.info("checkpoint/restore: " + none.describe());
            return none;
        }
        CriuSupport s;
        try {
            String version = "";
            for (String line : run(List.of(binary.get().toString(), "--version")).output().split("\n")) {
                if (line.startsWith("Version:")) {
                    version = line.substring("Version:".length()).trim();
                }
            }
            Result check = run(List.of(binary.get().toString(), "check"));
            boolean ok = check.exitCode() == 0 && errorLines(check.output()).isEmpty();
            s = new CriuSupport(binary.get(), version, ok, ok ? "" : String.join("; ", errorLines(check.output())));
        } catch (IOException e) {
            s = new CriuSupport(binary.get(), "", false, "criu check: " + e.getMessage());
        }
        LOG.info("checkpoint/restore: " + s.describe());
        return s;
    }

    /** The version as CRIU's own number (3.17.1: 31701), 0 when unknown. */
    public int versionNumber() {
        String[] p = version.split("\\.");
        try {
            return Integer.parseInt(p[0]) * 10000 + (p.length > 1 ? Integer.parseInt(p[1]) * 100 : 0)
                    + (p.length > 2 ? Integer.parseInt(p[2]) : 0);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** One line: "criu 3.17.1 at /usr/sbin/criu: usable", or why not. */
    public String describe() {
        if (binary == null) {
            return reason;
        }
        return "criu " + (version.isEmpty() ? "(version unknown)" : version) + " at " + binary + ": "
                + (usable ? "usable" : "cannot checkpoint on this kernel: " + reason);
    }

    /** The lines of a CRIU output or log that say what failed ("Error (file:line): ..."), at most 20. */
    public static List<String> errorLines(String text) {
        List<String> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            int at = line.indexOf("Error (");
            if (at < 0) {
                at = line.startsWith("Error:") ? 0 : -1;
            }
            if (at >= 0 && out.size() < 20) {
                out.add(line.substring(at).strip());
            }
        }
        return out;
    }

    record Result(int exitCode, String output) {}

    /** Runs a short CRIU command (stdout and stderr together, bounded), killed after PROBE_TIMEOUT. */
    static Result run(List<String> command) throws IOException {
        Path out = Files.createTempFile("coracle-criu-", ".out");
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            if (!p.waitFor(PROBE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish within "
                        + PROBE_TIMEOUT.toSeconds() + "s");
            }
            return new Result(p.exitValue(), readBounded(out));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } finally {
            Files.deleteIfExists(out);
        }
    }

    /** The first MAX_OUTPUT bytes of a file CRIU wrote, as text. */
    public static String readBounded(Path file) throws IOException {
        try (var in = Files.newInputStream(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return new String(in.readNBytes(MAX_OUTPUT), StandardCharsets.UTF_8);
        }
    }
}
