package io.coracle.critest;

import static org.junit.platform.engine.discovery.ClassNameFilter.includeClassNamePatterns;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClasspathRoots;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Runs the tests carrying one JUnit 5 tag from test-class directories, in this JVM, and writes a
 * Surefire-style report per class ({@code TEST-<class>.xml}) plus {@code summary.txt}. The cgroup-v2
 * stage runs it inside user-mode-linux (critest/cgroup-v2), where Maven itself would take minutes to
 * start. Usage: {@code TaggedTestRunner TAG REPORT_DIR TEST_CLASSES_DIR...}. Exit status: 0 when every
 * test passed (skips allowed), 1 when one failed, 2 when no test carries the tag.
 */
public final class TaggedTestRunner {
    private TaggedTestRunner() {}

    /** One finished test: its class, name, seconds, and the failure (null when it passed or was skipped). */
    record Outcome(String className, String name, double seconds, String status, String message, String trace) {}

    public static void main(String[] args) throws IOException {
        if (args.length < 3) {
            System.err.println("usage: TaggedTestRunner TAG REPORT_DIR TEST_CLASSES_DIR...");
            System.exit(64);
        }
        Path reports = Files.createDirectories(Path.of(args[1]));
        Set<Path> roots = java.util.Arrays.stream(args, 2, args.length).map(Path::of).collect(Collectors.toSet());
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClasspathRoots(roots))
                .filters(TagFilter.includeTags(args[0]), includeClassNamePatterns(".*Test", ".*IT"))
                .build();
        List<Outcome> outcomes = java.util.Collections.synchronizedList(new ArrayList<>());
        Map<String, Long> started = new ConcurrentHashMap<>();
        Launcher launcher = LauncherFactory.create();
        launcher.execute(request, new TestExecutionListener() {
            @Override
            public void executionStarted(TestIdentifier id) {
                started.put(id.getUniqueId(), System.nanoTime());
                if (id.isTest()) {
                    System.out.println("[cgroup-v2] RUN  " + label(id));
                }
            }

            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                if (id.isTest()) {
                    System.out.println("[cgroup-v2] SKIP " + label(id) + ": " + reason);
                    outcomes.add(new Outcome(className(id), id.getDisplayName(), 0, "skipped", reason, null));
                }
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                double secs = (System.nanoTime() - started.getOrDefault(id.getUniqueId(), System.nanoTime())) / 1e9;
                Throwable t = result.getThrowable().orElse(null);
                String status = switch (result.getStatus()) {
                    case SUCCESSFUL -> "passed";
                    case ABORTED -> "skipped";
                    case FAILED -> t instanceof AssertionError ? "failure" : "error";
                };
                if (!id.isTest() && status.equals("passed")) {
                    return;
                }
                // A class whose set-up or tear-down failed counts as one error of its own.
                String name = id.isTest() ? id.getDisplayName() : "[" + id.getDisplayName() + " set-up/tear-down]";
                System.out.printf("[cgroup-v2] %-4s %s (%.1f s)%s%n", status.equals("passed") ? "OK" : status.toUpperCase(),
                        label(id), secs, t == null ? "" : ": " + t);
                outcomes.add(new Outcome(className(id), name, secs, status, t == null ? null : String.valueOf(t.getMessage()),
                        t == null ? null : trace(t)));
            }
        });
        int code = write(reports, outcomes);
        System.exit(code);
    }

    private static String className(TestIdentifier id) {
        return id.getSource().map(s -> s instanceof MethodSource m ? m.getClassName()
                : s instanceof org.junit.platform.engine.support.descriptor.ClassSource c ? c.getClassName()
                : s.toString()).orElse(id.getDisplayName());
    }

    private static String label(TestIdentifier id) {
        String c = className(id);
        return c.substring(c.lastIndexOf('.') + 1) + (id.isTest() ? "." + id.getDisplayName() : "");
    }

    private static String trace(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        return w.toString();
    }

    private static int write(Path reports, List<Outcome> outcomes) throws IOException {
        Map<String, List<Outcome>> byClass = new LinkedHashMap<>();
        synchronized (outcomes) {
            for (Outcome o : outcomes) {
                byClass.computeIfAbsent(o.className(), k -> new ArrayList<>()).add(o);
            }
        }
        long failed = 0;
        long skipped = 0;
        long total = 0;
        for (var e : byClass.entrySet()) {
            List<Outcome> list = e.getValue();
            long f = list.stream().filter(o -> o.status().equals("failure")).count();
            long err = list.stream().filter(o -> o.status().equals("error")).count();
            long s = list.stream().filter(o -> o.status().equals("skipped")).count();
            StringBuilder x = new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            x.append("<testsuite name=\"").append(xml(e.getKey())).append("\" tests=\"").append(list.size())
                    .append("\" failures=\"").append(f).append("\" errors=\"").append(err).append("\" skipped=\"")
                    .append(s).append("\" time=\"").append(list.stream().mapToDouble(Outcome::seconds).sum()).append("\">\n");
            for (Outcome o : list) {
                x.append("  <testcase name=\"").append(xml(o.name())).append("\" classname=\"").append(xml(o.className()))
                        .append("\" time=\"").append(o.seconds()).append('"');
                switch (o.status()) {
                    case "passed" -> x.append("/>\n");
                    case "skipped" -> x.append("><skipped message=\"").append(xml(o.message())).append("\"/></testcase>\n");
                    default -> x.append("><").append(o.status()).append(" message=\"").append(xml(o.message())).append("\">")
                            .append(xml(o.trace())).append("</").append(o.status()).append("></testcase>\n");
                }
            }
            x.append("</testsuite>\n");
            Files.writeString(reports.resolve("TEST-" + e.getKey() + ".xml"), x);
            failed += f + err;
            skipped += s;
            total += list.size();
        }
        String summary = "Tests run: %d, Failed: %d, Skipped: %d".formatted(total, failed, skipped);
        Files.writeString(reports.resolve("summary.txt"), summary + "\n");
        System.out.println("[cgroup-v2] " + summary);
        return total == 0 ? 2 : failed > 0 ? 1 : 0;
    }

    private static String xml(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                default -> {
                    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') {
                        b.append('?');
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }
}
