package io.coracle.runtime.config;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The coracle.toml examples in the READMEs are what the daemon accepts, and the top README names every key. */
class ReadmeConfigTest {
    private static final Path TOP = Path.of("..").toAbsolutePath().normalize();
    private static final Pattern TOML_BLOCK = Pattern.compile("(?s)```toml\\n(.*?)```");

    private static List<Path> readmes() throws IOException {
        try (Stream<Path> s = Files.list(TOP)) {
            return Stream.concat(Stream.of(TOP.resolve("README.md")),
                    s.filter(Files::isDirectory).map(d -> d.resolve("README.md")).filter(Files::isRegularFile))
                    .sorted().toList();
        }
    }

    @Test
    void everyTomlBlockInAReadmeLoadsAsTheDaemonsConfig() throws Exception {
        int blocks = 0;
        for (Path readme : readmes()) {
            Matcher m = TOML_BLOCK.matcher(Files.readString(readme));
            while (m.find()) {
                String source = TOP.relativize(readme) + " block " + ++blocks;
                try {
                    DaemonConfig.from(ConfigLoader.parse(m.group(1), source), Map.of(), source);
                } catch (ConfigException e) {
                    fail(source + " is refused by the daemon: " + e.getMessage() + "\n" + m.group(1));
                }
            }
        }
        // The top README's registry mirror, runtime handler, streaming and metrics examples, and
        // image-service's and pod-sandbox's key tables.
        assertTrue(blocks >= 6, "toml blocks found in the READMEs: " + blocks);
    }

    @Test
    void theTopReadmeNamesEveryKey() throws Exception {
        String readme = Files.readString(TOP.resolve("README.md"));
        for (ConfigKey key : ConfigSchema.KEYS) {
            String[] parts = key.path().split("\\.");
            String leaf = parts[parts.length - 1].equals("*") ? parts[parts.length - 2] : parts[parts.length - 1];
            assertTrue(readme.contains("`" + leaf + "`") || readme.contains("\n" + leaf + " = ")
                            || readme.contains("." + leaf + "]") || readme.contains("[" + leaf + "]"),
                    "README.md does not name config key " + key.path());
        }
    }
}
