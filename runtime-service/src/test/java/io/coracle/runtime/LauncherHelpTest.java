package io.coracle.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code ./coracle help} names every command the launcher and the daemon jar take, and nothing else. */
class LauncherHelpTest {
    private static final Path LAUNCHER = Path.of("..", "coracle").toAbsolutePath().normalize();

    private static String launcher(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("bash", LAUNCHER.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", args) + " exit code");
        return out;
    }

    @Test
    void helpPrintsTheUsageWithoutTheScriptAndTheSameForEachSpelling() throws Exception {
        String help = launcher("help");
        assertTrue(help.startsWith("Coracle launcher:"), help);
        assertFalse(help.contains("set -"), help);
        assertFalse(help.contains("#"), help);
        assertEquals(help, launcher("--help"));
        assertEquals(help, launcher("-h"));
        assertEquals(help, launcher());
    }

    @Test
    void helpNamesEveryCommandTheLauncherHandles() throws Exception {
        String help = launcher("help");
        String script = Files.readString(LAUNCHER);
        // The case labels of the launcher's command switch (two spaces) and of bench's (six).
        Matcher m = Pattern.compile("(?m)^  ([a-z][a-z|-]*)\\)").matcher(script);
        int commands = 0;
        while (m.find()) {
            for (String word : m.group(1).split("\\|")) {
                if (word.startsWith("-")) {
                    continue; // -h, --help: spellings of help
                }
                assertTrue(help.contains("./coracle " + word), "help omits ./coracle " + word + ":\n" + help);
                commands++;
            }
        }
        assertTrue(commands >= 5, "found " + commands + " commands in the launcher");
        Matcher bench = Pattern.compile("(?m)^      ([a-z]+)\\) shift").matcher(script);
        int benches = 0;
        while (bench.find()) {
            assertTrue(help.contains("./coracle bench " + bench.group(1) + " "), "help omits bench " + bench.group(1));
            benches++;
        }
        assertEquals(5, benches, "bench commands found in the launcher (startup, containers, streaming, compare, readpath)");
    }

    @Test
    void helpNamesEveryCommandOfTheDaemonJar() throws Exception {
        String help = launcher("help");
        PrintStream old = System.out;
        ByteArrayOutputStream usage = new ByteArrayOutputStream();
        System.setOut(new PrintStream(usage, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, Main.run(new String[] {"help"}));
        } finally {
            System.setOut(old);
        }
        Matcher m = Pattern.compile("coracle ([a-z]+(?: [a-z]+)?)").matcher(usage.toString(StandardCharsets.UTF_8));
        int n = 0;
        while (m.find()) {
            String command = m.group(1).replaceFirst(" (?!default|import).*", "");
            assertTrue(help.contains("./coracle " + command), "help omits ./coracle " + command + ":\n" + help);
            n++;
        }
        assertEquals(5, n, "commands in Main's usage");
    }

    private static String mainOut(int expectedExit, String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertEquals(expectedExit, Main.run(args), String.join(" ", args) + " exit code");
        } finally {
            System.setOut(old);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void everyCommandTakesHelpAndExitsZero() throws Exception {
        for (String command : List.of("daemon", "config", "images", "play", "version", "help")) {
            for (String flag : List.of("--help", "-h")) {
                assertTrue(mainOut(0, command, flag).startsWith("usage: coracle daemon"), command + " " + flag);
            }
        }
        assertTrue(mainOut(0, "images", "import", "--help").startsWith("usage:"));
        assertTrue(mainOut(0, "play", "--down", "-h").startsWith("usage:"));
        for (String command : List.of("build", "test", "dist", "bench", "critest")) {
            assertTrue(launcher(command, "--help").startsWith("Coracle launcher:"), "./coracle " + command + " --help");
        }
    }

    @Test
    void versionNamesTheDaemonTheShimAndTheCriApi() {
        String[] lines = mainOut(0, "version").split("\n");
        assertEquals(3, lines.length, String.join("\n", lines));
        assertTrue(lines[0].matches("coracle \\d+\\.\\d+\\.\\d+.*"), lines[0]);
        String version = lines[0].substring("coracle ".length());
        assertTrue(lines[1].startsWith("shim: coracle-shim " + version + " ("), lines[1]);
        assertEquals("CRI API: v1 (runtime.v1)", lines[2]);
    }
}
