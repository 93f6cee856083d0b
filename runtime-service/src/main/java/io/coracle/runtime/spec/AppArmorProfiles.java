package io.coracle.runtime.spec;

import io.coracle.cri.CriError;
import io.coracle.sys.PrivateFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * AppArmor on a host that has it: Coracle's RuntimeDefault profile ({@code apparmor/coracle-default}
 * on the classpath), loaded into the kernel once, on first use, with {@code apparmor_parser -Kr}.
 * A profile that cannot be loaded fails the containers that need it: never unconfined instead.
 */
public final class AppArmorProfiles {
    private static final Logger LOG = Logger.getLogger(AppArmorProfiles.class.getName());
    /** The name RuntimeDefault containers run under. */
    public static final String DEFAULT_PROFILE = "coracle-default";
    public static final List<Path> PARSERS = List.of(Path.of("/sbin/apparmor_parser"), Path.of("/usr/sbin/apparmor_parser"));

    private final Path parser;
    private final Path dir;
    private boolean loaded;

    /** parser: the apparmor_parser to run; dir: a private directory for the profile's file. */
    public AppArmorProfiles(Path parser, Path dir) {
        this.parser = parser;
        this.dir = dir;
    }

    /** The host's apparmor_parser, if installed. */
    public static Optional<Path> findParser() {
        return PARSERS.stream().filter(Files::isExecutable).findFirst();
    }

    /** The profile's text, as loaded. */
    public static String defaultProfileText() {
        try (InputStream in = AppArmorProfiles.class.getResourceAsStream("/apparmor/" + DEFAULT_PROFILE)) {
            if (in == null) {
                throw new IllegalStateException("apparmor/" + DEFAULT_PROFILE + " is missing from the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("apparmor/" + DEFAULT_PROFILE + ": " + e.getMessage(), e);
        }
    }

    /** The RuntimeDefault profile's name, loading it first if this daemon has not yet. */
    public synchronized String runtimeDefault() {
        if (!loaded) {
            load();
            loaded = true;
        }
        return DEFAULT_PROFILE;
    }

    private void load() {
        Path file = dir.resolve(DEFAULT_PROFILE);
        try {
            PrivateFiles.write(PrivateFiles.directory(dir).resolve(DEFAULT_PROFILE),
                    defaultProfileText().getBytes(StandardCharsets.UTF_8), false);
            Process p = new ProcessBuilder(parser.toString(), "-Kr", file.toString()).redirectErrorStream(true).start();
            byte[] out;
            try (InputStream in = p.getInputStream()) {
                if (!p.waitFor(60, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IOException(parser + " did not finish in 60 s");
                }
                out = in.readNBytes(4096);
            }
            if (p.exitValue() != 0) {
                throw new IOException(parser + " -Kr " + file + " exited " + p.exitValue() + ": "
                        + new String(out, StandardCharsets.UTF_8).strip());
            }
            LOG.info("AppArmor profile " + DEFAULT_PROFILE + " loaded for RuntimeDefault containers");
        } catch (IOException e) {
            throw new CriError(CriError.Kind.INTERNAL, "AppArmor is enabled on this host, but its RuntimeDefault profile "
                    + DEFAULT_PROFILE + " could not be loaded: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CriError(CriError.Kind.INTERNAL, "loading the AppArmor profile " + DEFAULT_PROFILE + " was interrupted", e);
        }
    }
}
