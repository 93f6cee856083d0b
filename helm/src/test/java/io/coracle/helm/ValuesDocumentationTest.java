package io.coracle.helm;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every value in values.yaml has a comment right above it (defaults inside free-form maps excepted). */
class ValuesDocumentationTest {
    private static final Pattern KEY = Pattern.compile("^( *)([A-Za-z][A-Za-z0-9_.]*):");
    /** Kubernetes objects given as values: their inner keys are the API's, not the chart's. */
    private static final Set<String> FREE_FORM = Set.of("resources", "nodeSelector", "updateStrategy");

    @Test
    void everyValueHasAComment() throws IOException {
        List<String> lines = Files.readAllLines(Chart.DIR.resolve("values.yaml"));
        List<String> undocumented = new ArrayList<>();
        Deque<int[]> indents = new ArrayDeque<>(); // {indent, index of the key line}
        Deque<String> path = new ArrayDeque<>();
        int keys = 0;
        String previous = "";
        for (String line : lines) {
            Matcher m = KEY.matcher(line);
            if (m.find()) {
                int indent = m.group(1).length();
                while (!indents.isEmpty() && indents.peek()[0] >= indent) {
                    indents.pop();
                    path.pop();
                }
                boolean freeForm = path.stream().anyMatch(FREE_FORM::contains);
                if (!freeForm && !previous.startsWith("#")) {
                    undocumented.add(String.join(".", path.reversed()) + (path.isEmpty() ? "" : ".") + m.group(2));
                }
                keys++;
                indents.push(new int[] {indent, 0});
                path.push(m.group(2));
            }
            if (!line.isBlank()) {
                previous = line.strip();
            }
        }
        assertTrue(keys > 50, "parsed only " + keys + " keys");
        assertEquals(List.of(), undocumented, "values without a comment above them");
    }
}
