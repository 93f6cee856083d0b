package io.coracle.runtime;

import io.coracle.runtime.config.ConfigException;
import io.coracle.runtime.config.ConfigLoader;
import io.coracle.runtime.config.ConfigSchema;
import io.coracle.runtime.config.DaemonConfig;
import io.coracle.runtime.cri.BuildInfo;
import io.coracle.runtime.daemon.Daemon;
import io.coracle.runtime.daemon.DaemonStartException;
import io.coracle.runtime.daemon.OneLineLogFormatter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The daemon jar's command line: {@code daemon} (serve the CRI; flags override coracle.toml),
 * {@code config default}, {@code images import}, {@code play}, {@code version} and {@code help}.
 * Exit codes: 0 done, 1 failed, 2 a bad command line or config. The {@code ./coracle} launcher in
 * the repository root runs this after building; its own commands (build, test, bench, critest) are
 * not here.
 */
public final class Main {
    static final int EXIT_USAGE = 2;

    private static final String USAGE = """
            usage: coracle daemon [--config FILE] [--socket PATH] [--root DIR] [--state DIR] [--log-level LEVEL]
                          [--default-network]   (a node on its own: Coracle's bridge network when no CNI config exists)
                   coracle config default
                   coracle images import [--config FILE] [--root DIR] ARCHIVE   (while the daemon is stopped)
                   coracle play [--socket PATH] [--down] POD.yaml   (a Kubernetes Pod manifest, through the daemon)
                   coracle version
            """;

    /** Daemon flags and the config keys they override. */
    private static final Map<String, String> FLAG_KEYS = Map.of(
            "--socket", "socket",
            "--root", "root",
            "--state", "state",
            "--log-level", "log_level");

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length == 0) {
            System.err.print(USAGE);
            return EXIT_USAGE;
        }
        List<String> rest = Arrays.asList(args).subList(1, args.length);
        QuietNetty.install();
        if (rest.contains("--help") || rest.contains("-h")) {
            System.out.print(USAGE); // every command's --help: the usage, exit 0
            return 0;
        }
        try {
            return switch (args[0]) {
                case "daemon" -> daemon(rest);
                case "config" -> {
                    if (!rest.equals(List.of("default"))) {
                        throw new UsageException("unknown config command " + String.join(" ", rest)
                                + "; try: coracle config default");
                    }
                    System.out.print(ConfigSchema.defaultToml());
                    yield 0;
                }
                case "images" -> imagesCommand(rest);
                case "play" -> play(rest);
                case "version", "--version" -> {
                    System.out.print(versions());
                    yield 0;
                }
                case "help", "-h", "--help" -> {
                    System.out.print(USAGE);
                    yield 0;
                }
                default -> throw new UsageException("unknown command '" + args[0] + "'");
            };
        } catch (UsageException e) {
            System.err.println("coracle: " + e.getMessage());
            System.err.print(USAGE);
            return EXIT_USAGE;
        } catch (ConfigException e) {
            System.err.println("coracle: config: " + e.getMessage());
            return EXIT_USAGE;
        } catch (DaemonStartException e) {
            System.err.println("coracle: cannot start: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        } catch (Exception e) {
            System.err.println("coracle: " + e.getMessage());
            return 1;
        }
    }

    private static int daemon(List<String> args) throws UsageException, ConfigException, DaemonStartException,
            InterruptedException {
        DaemonConfig config = parseDaemonFlags(args);
        OneLineLogFormatter.install(config.logLevel());
        return new Daemon(config).run();
    }

    /** The daemon's, the shim's (as the installed program reports it) and the CRI API's versions. */
    static String versions() {
        String shim;
        try {
            io.coracle.sys.NativePrograms programs = io.coracle.sys.NativePrograms.locate();
            Process p = new ProcessBuilder(programs.shim().toString(), "--version")
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readNBytes(256), java.nio.charset.StandardCharsets.UTF_8).trim();
            shim = p.waitFor(5, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0 && !out.isEmpty()
                    ? out + " (" + programs.shim() + ")" : "unavailable (" + programs.shim() + ")";
            p.destroyForcibly();
        } catch (java.io.IOException | RuntimeException e) {
            shim = "unavailable (" + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            shim = "unavailable (interrupted)";
        }
        return BuildInfo.RUNTIME_NAME + " " + BuildInfo.VERSION + "\n"
                + "shim: " + shim + "\n"
                + "CRI API: " + io.coracle.runtime.cri.RuntimeStatusReporter.CRI_API_VERSION + " (runtime.v1)\n";
    }

    /** The daemon flags and the config file they name, over the built-in defaults. */
    static DaemonConfig parseDaemonFlags(List<String> args) throws UsageException, ConfigException {
        Path configFile = Path.of(ConfigSchema.DEFAULT_CONFIG_FILE);
        boolean configRequired = false;
        Map<String, Object> flags = new LinkedHashMap<>();
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            String name = arg;
            String value = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                name = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            }
            if (arg.equals("--default-network")) { // cni.default_network = true, a switch without a value
                flags.put("cni.default_network", Boolean.TRUE);
                continue;
            }
            if (!name.equals("--config") && !FLAG_KEYS.containsKey(name)) {
                throw new UsageException("unknown flag '" + arg + "'");
            }
            if (value == null) {
                if (i + 1 >= args.size()) {
                    throw new UsageException("flag " + name + " needs a value");
                }
                value = args.get(++i);
            }
            if (name.equals("--config")) {
                configFile = Path.of(value);
                configRequired = true;
            } else {
                flags.put(FLAG_KEYS.get(name), value);
            }
        }
        Map<String, Object> fileValues = ConfigLoader.load(configFile, configRequired);
        String source = fileValues.isEmpty() && !configRequired && !configFile.toFile().exists()
                ? "built-in defaults" : configFile.toString();
        return DaemonConfig.from(fileValues, flags, source);
    }

    /** {@code images import ARCHIVE}: loads an OCI layout or docker save archive into the store. */
    private static int imagesCommand(List<String> args) throws Exception {
        if (args.isEmpty() || !args.get(0).equals("import")) {
            throw new UsageException("unknown images command; try: coracle images import ARCHIVE");
        }
        List<String> flags = new java.util.ArrayList<>(args.subList(1, args.size()));
        if (flags.isEmpty() || flags.get(flags.size() - 1).startsWith("--")) {
            throw new UsageException("images import needs an archive path");
        }
        Path archive = Path.of(flags.remove(flags.size() - 1));
        DaemonConfig config = parseDaemonFlags(flags);
        OneLineLogFormatter.install(config.logLevel());
        return Daemon.withRootLock(config, () -> {
            try (var images = new io.coracle.image.ImageService(io.coracle.image.ImageServiceConfig
                    .defaults(config.root()))) {
                return io.coracle.image.ImageImportCommand.run(images, archive, System.out, System.err);
            }
        });
    }

    private static int play(List<String> args) throws UsageException {
        Path socket = Path.of((String) io.coracle.runtime.config.ConfigSchema.KEYS.stream()
                .filter(k -> k.path().equals("socket")).findFirst().orElseThrow().defaultValue());
        boolean down = false;
        Path manifest = null;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--down")) {
                down = true;
            } else if (a.equals("--socket") && i + 1 < args.size()) {
                socket = Path.of(args.get(++i));
            } else if (a.startsWith("--socket=")) {
                socket = Path.of(a.substring("--socket=".length()));
            } else if (a.startsWith("--") || manifest != null) {
                throw new UsageException("play: unexpected argument '" + a + "'");
            } else {
                manifest = Path.of(a);
            }
        }
        if (manifest == null) {
            throw new UsageException("play needs a Pod manifest file");
        }
        return io.coracle.runtime.play.PlayCommand.run(socket, manifest, down, System.out, System.err);
    }

    /** The command line is wrong. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }
}
