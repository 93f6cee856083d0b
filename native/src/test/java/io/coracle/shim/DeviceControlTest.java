package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.sys.NativePrograms;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The shim's device control for real, on every device-controlling hierarchy this node has: a pure
 * cgroup v2 node (its eBPF program), or a v1 node's devices hierarchy and, on a hybrid node, the
 * cgroup2 hierarchy at /sys/fs/cgroup/unified (BPF device programs check the processes of its
 * cgroups there too). Each case makes a coracle-test-* cgroup, gives it rules through
 * {@code coracle-shim devices --cgroup DIR} (the code a container's create and update run), and
 * tries, from a shell moved into it, what a container's root would: mknod and open of the host's
 * disk and of /dev/mem.
 */
@Tag("cgroup")
class DeviceControlTest {
    private static final Path SHIM = NativePrograms.locate().shim();
    private static final Path ROOT = Path.of("/sys/fs/cgroup");

    /** A hierarchy that controls devices: its root and whether it is cgroup2 (the eBPF program). */
    record Layout(Path root, boolean v2) {
        @Override
        public String toString() {
            return (v2 ? "cgroup2 " : "v1 devices ") + root;
        }
    }

    static List<Layout> layouts() throws IOException {
        List<Layout> found = new ArrayList<>();
        if (isCgroup2(ROOT)) {
            found.add(new Layout(ROOT, true));
        } else {
            if (Files.exists(ROOT.resolve("devices/devices.allow"))) {
                found.add(new Layout(ROOT.resolve("devices"), false));
            }
            if (isCgroup2(ROOT.resolve("unified"))) {
                found.add(new Layout(ROOT.resolve("unified"), true));
            }
        }
        assertFalse(found.isEmpty(), "no hierarchy here controls devices: neither cgroup2 nor a v1 devices controller");
        return found;
    }

    private static boolean isCgroup2(Path mountPoint) throws IOException {
        return Files.readAllLines(Path.of("/proc/self/mounts")).stream().map(l -> l.split(" "))
                .anyMatch(f -> f.length > 2 && f[1].equals(mountPoint.toString()) && f[2].equals("cgroup2"));
    }

    /** The host's first disk (as /proc/partitions lists it) as "major minor". */
    static String hostDisk() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/partitions"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 4 && f[0].matches("\\d+") && !f[3].startsWith("loop") && !f[3].startsWith("ram")) {
                return f[0] + " " + f[1];
            }
        }
        return "8 0"; // none listed (a user-mode kernel on hostfs): sda's numbers, the check comes before the driver
    }

    private final List<Path> cgroups = new ArrayList<>();
    private Path tmp;

    @BeforeEach
    void tempDir() throws IOException {
        // Device nodes need a file system mounted without nodev: /tmp here (the tests check it works).
        tmp = Files.createTempDirectory(Path.of("/tmp"), "coracle-test-dev");
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (Path cg : cgroups) {
            for (int i = 0; Files.exists(cg); i++) {
                try {
                    Files.delete(cg);
                } catch (IOException e) {
                    if (i > 200) {
                        throw e;
                    }
                    Thread.sleep(10); // its last shell is still exiting
                }
            }
        }
        try (var s = Files.walk(tmp)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /**
     * A new cgroup, and a directory of its own under the temp dir holding device nodes made from
     * outside it: null, zero, full, mem (1:1), kmsg (1:11) and disk (the host's), to try opening them.
     */
    private Path cgroup(Layout l) throws Exception {
        Path cg = Files.createDirectory(l.root().resolve("coracle-test-" + UUID.randomUUID().toString().substring(0, 8)));
        cgroups.add(cg);
        Path nodes = Files.createDirectory(tmp.resolve(cg.getFileName().toString()));
        Result r = run(List.of("/bin/sh", "-c", "cd " + nodes + " && mknod null c 1 3 && mknod zero c 1 5 && mknod full c 1 7"
                + " && mknod mem c 1 1 && mknod kmsg c 1 11 && mknod disk b " + hostDisk()), "");
        assertEquals(0, r.exit(), r.err());
        return cg;
    }

    record Result(int exit, String out, String err) {}

    private static Result run(List<String> cmd, String stdin) throws Exception {
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), "timed out: " + cmd);
        return new Result(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    /** Applies rules, each "allow|deny TYPE MAJOR MINOR ACCESS" with * for any; returns the shim's result. */
    private static Result devices(Path cg, String... rules) throws Exception {
        return run(List.of(SHIM.toString(), "devices", "--cgroup", cg.toString()), json(rules));
    }

    private static void apply(Path cg, String... rules) throws Exception {
        Result r = devices(cg, rules);
        assertEquals(0, r.exit(), r.err());
    }

    static String json(String... rules) {
        List<String> items = new ArrayList<>();
        for (String rule : rules) {
            String[] f = rule.split(" ");
            items.add("{\"allow\":" + f[0].equals("allow") + ",\"type\":\"" + f[1] + "\""
                    + (f[2].equals("*") ? "" : ",\"major\":" + f[2]) + (f[3].equals("*") ? "" : ",\"minor\":" + f[3])
                    + ",\"access\":\"" + f[4] + "\"}");
        }
        return "{\"devices\":[" + String.join(",", items) + "]}";
    }

    /**
     * Runs each step in a shell moved into the cgroup; a step's verdict is "ok", "EPERM" or what else
     * failed. Steps: "mknod NAME b|c MAJOR MINOR", "read NAME" (one byte), "write NAME" (opened for
     * writing, nothing written), "rw NAME" (opened read-write, nothing written).
     */
    private Map<String, String> attempt(Path cg, String... steps) throws Exception {
        StringBuilder sh = new StringBuilder("echo 0 > " + cg.resolve("cgroup.procs") + " || exit 99\n"
                + "t() { name=$1; shift; if out=$(\"$@\" 2>&1); then echo \"$name ok\"; else case $out in *'not permitted'*)"
                + " echo \"$name EPERM\";; *) echo \"$name other: $out\";; esac; fi; }\n"
                + "cd " + tmp.resolve(cg.getFileName().toString()) + " || exit 98\n");
        for (String step : steps) {
            String[] f = step.split(" ");
            switch (f[0]) {
                case "mknod" -> sh.append("t '").append(step).append("' mknod ").append(f[1]).append(' ').append(f[2])
                        .append(' ').append(f[3]).append(' ').append(f[4]).append('\n');
                case "read" -> sh.append("t '").append(step).append("' head -c 1 ").append(f[1]).append('\n');
                case "write" -> sh.append("t '").append(step).append("' sh -c ': >> ").append(f[1]).append("'\n");
                case "rw" -> sh.append("t '").append(step).append("' sh -c ': <> ").append(f[1]).append("'\n");
                default -> throw new IllegalArgumentException(step);
            }
        }
        Result r = run(List.of("/bin/sh", "-c", sh.toString()), "");
        assertEquals(0, r.exit(), r.out() + r.err());
        Map<String, String> verdicts = new LinkedHashMap<>();
        for (String line : r.out().split("\n")) {
            int cut = line.lastIndexOf(line.contains(" other: ") ? " other: " : " ");
            verdicts.put(line.substring(0, cut), line.substring(cut + 1));
        }
        assertEquals(steps.length, verdicts.size(), r.out());
        return verdicts;
    }

    /** The default list of the runtime service's DeviceStep (the same on v1 and v2). */
    static final String[] DEFAULTS = {"deny a * * rwm", "allow c * * m", "allow b * * m", "allow c 1 3 rwm",
            "allow c 1 5 rwm", "allow c 1 7 rwm", "allow c 1 8 rwm", "allow c 1 9 rwm", "allow c 5 0 rwm",
            "allow c 5 1 rwm", "allow c 5 2 rwm", "allow c 136 * rwm", "allow c 10 200 rwm"};

    @Test
    void theDefaultsLetAContainerMakeButNeverOpenTheHostsDiskOrMemory() throws Exception {
        String disk = hostDisk();
        for (Layout l : layouts()) {
            Path cg = cgroup(l);
            apply(cg, DEFAULTS);
            Map<String, String> v = attempt(cg, "mknod newdisk b " + disk, "read disk", "write disk", "rw disk",
                    "mknod newmem c 1 1", "read mem", "write mem", "mknod newnull c 1 3", "read null", "write null",
                    "mknod newzero c 1 5", "read zero", "mknod newkmsg c 1 11", "read kmsg");
            Map<String, String> expected = new LinkedHashMap<>();
            // mknod is allowed (as under runc), opening what it made is not.
            for (String s : List.of("mknod newdisk b " + disk, "mknod newmem c 1 1", "mknod newkmsg c 1 11")) {
                expected.put(s, "ok");
            }
            for (String s : List.of("read disk", "write disk", "rw disk", "read mem", "write mem", "read kmsg")) {
                expected.put(s, "EPERM");
            }
            for (String s : List.of("mknod newnull c 1 3", "read null", "write null", "mknod newzero c 1 5", "read zero")) {
                expected.put(s, "ok");
            }
            for (Map.Entry<String, String> x : expected.entrySet()) {
                assertEquals(x.getValue(), v.get(x.getKey()), l + ": " + x.getKey() + " in " + v);
            }
        }
    }

    @Test
    void withoutMknodRulesNothingCanBeMade() throws Exception {
        String disk = hostDisk();
        for (Layout l : layouts()) {
            Path cg = cgroup(l);
            apply(cg, "deny a * * rwm", "allow c 1 3 rwm");
            Map<String, String> v = attempt(cg, "mknod newdisk b " + disk, "mknod newmem c 1 1", "mknod newnull c 1 3");
            assertEquals(Map.of("mknod newdisk b " + disk, "EPERM", "mknod newmem c 1 1", "EPERM", "mknod newnull c 1 3", "ok"), v,
                    l.toString());
        }
    }

    @Test
    void theLastMatchingRuleDecidesEachAccessBit() throws Exception {
        for (Layout l : layouts()) {
            Path cg = cgroup(l);
            apply(cg, "deny a * * rwm", "allow c 1 3 rwm", "deny c 1 3 w");
            Map<String, String> v = attempt(cg, "mknod newnull c 1 3", "read null", "write null", "rw null");
            assertEquals(Map.of("mknod newnull c 1 3", "ok", "read null", "ok", "write null", "EPERM", "rw null", "EPERM"), v,
                    l.toString());
            // An allow after the deny wins again.
            apply(cg, "deny a * * rwm", "allow c 1 3 rwm", "deny c 1 3 w", "allow c 1 3 w");
            assertEquals("ok", attempt(cg, "rw null").get("rw null"), l.toString());
        }
    }

    @Test
    void aDenyInsideAWildcardAllowWinsOnV2AndIsRefusedOnV1() throws Exception {
        for (Layout l : layouts()) {
            Path cg = cgroup(l);
            apply(cg, "deny a * * rwm", "allow c 1 3 rwm", "allow c 1 5 rwm");
            Result r = devices(cg, "deny a * * rwm", "allow c 1 * rwm", "deny c 1 5 rwm");
            if (l.v2()) {
                assertEquals(0, r.exit(), r.err());
                Map<String, String> v = attempt(cg, "mknod newnull c 1 3", "mknod newzero c 1 5", "mknod newfull c 1 7", "read full");
                assertEquals(Map.of("mknod newnull c 1 3", "ok", "mknod newzero c 1 5", "EPERM", "mknod newfull c 1 7", "ok",
                        "read full", "ok"), v, l.toString());
            } else {
                // v1's deny only trims an entry of the same type:major:minor: the deny would be lost.
                assertEquals(65, r.exit(), r.err());
                assertTrue(r.err().contains("linux.resources.devices[2]: a deny inside the earlier allow [1]"), r.err());
                // Refused before anything was written: the rules before stay.
                Map<String, String> v = attempt(cg, "mknod newzero c 1 5", "mknod newfull c 1 7");
                assertEquals(Map.of("mknod newzero c 1 5", "ok", "mknod newfull c 1 7", "EPERM"), v, l.toString());
            }
        }
    }

    @Test
    void wildcardsMatchEveryMajorOrMinorAndTypeAllMatchesBoth() throws Exception {
        String disk = hostDisk();
        for (Layout l : layouts()) {
            Path cg = cgroup(l);
            apply(cg, "deny a * * rwm", "allow c 1 * m", "allow a * * r");
            Map<String, String> v = attempt(cg, "mknod newzero c 1 5", "mknod newfull c 1 7", "mknod newtty c 5 0", "read zero",
                    "write zero");
            assertEquals(Map.of("mknod newzero c 1 5", "ok", "mknod newfull c 1 7", "ok", "mknod newtty c 5 0", "EPERM",
                    "read zero", "ok", "write zero", "EPERM"), v, l.toString());
            // Not a block device's mknod: "a * * r" gave read only.
            assertEquals("EPERM", attempt(cg, "mknod newdisk b " + disk).get("mknod newdisk b " + disk), l.toString());
        }
    }

    @Test
    void anUpdateReplacesTheRulesInsteadOfAddingToThem() throws Exception {
        for (Layout l : layouts()) {
            Path cg = cgroup(l);
            apply(cg, "deny a * * rwm", "allow c 1 3 rwm");
            assertEquals(Map.of("mknod newnull c 1 3", "ok", "mknod newzero c 1 5", "EPERM"),
                    attempt(cg, "mknod newnull c 1 3", "mknod newzero c 1 5"), l.toString());
            // Wider: on v2 this works only if the old program went (every attached one must allow).
            apply(cg, "deny a * * rwm", "allow c 1 3 rwm", "allow c 1 5 rwm");
            assertEquals(Map.of("read null", "ok", "read zero", "ok"), attempt(cg, "read null", "read zero"), l.toString());
            // Narrower.
            apply(cg, "deny a * * rwm");
            assertEquals(Map.of("read null", "EPERM", "read zero", "EPERM"), attempt(cg, "read null", "read zero"),
                    l.toString());
            apply(cg, "allow a * * rwm");
            assertEquals(Map.of("read null", "ok"), attempt(cg, "read null"), l.toString());
        }
    }

    @Test
    void rulesOutOfRangeOrMalformedAreRefusedAndChangeNothing() throws Exception {
        for (Layout l : layouts()) {
            Path cg = cgroup(l);
            apply(cg, "deny a * * rwm", "allow c 1 3 rwm");
            for (String bad : List.of("{\"devices\":[{\"allow\":true,\"type\":\"c\",\"major\":4294967296,\"access\":\"rwm\"}]}",
                    "{\"devices\":[{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":-2,\"access\":\"rwm\"}]}",
                    "{\"devices\":[{\"allow\":true,\"type\":\"c\",\"major\":1.5,\"access\":\"r\"}]}",
                    "{\"devices\":[{\"allow\":true,\"type\":\"x\",\"access\":\"rwm\"}]}",
                    "{\"devices\":[{\"allow\":true,\"type\":\"a\",\"access\":\"rwx\"}]}",
                    "{\"devices\":[{\"allow\":true,\"type\":\"a\",\"access\":\"\"}]}",
                    "{\"devices\":[{\"type\":\"a\",\"access\":\"rwm\"}]}",
                    "{\"devices\":" + "[" + "{\"allow\":true,\"type\":\"c\",\"access\":\"m\"},".repeat(256)
                            + "{\"allow\":true,\"type\":\"c\",\"access\":\"m\"}]}")) {
                Result r = run(List.of(SHIM.toString(), "devices", "--cgroup", cg.toString()), bad);
                assertEquals(65, r.exit(), l + ": " + bad + ": " + r.err());
                assertTrue(r.err().contains("linux.resources.devices"), r.err());
            }
            // A major at the top of the range is taken (the program compares all 32 bits).
            apply(cg, "deny a * * rwm", "allow c 4294967295 3 rwm", "allow c 1 3 r");
            assertEquals(Map.of("read null", "ok", "write null", "EPERM"), attempt(cg, "read null", "write null"),
                    l.toString());
        }
    }

    @Test
    void rulesThatCannotBeEnforcedFailAndTheOldOnesStay() throws Exception {
        for (Layout l : layouts()) {
            Path cg = cgroup(l);
            apply(cg, "deny a * * rwm", "allow c 1 3 rwm");
            // Without CAP_SYS_ADMIN and CAP_BPF the kernel refuses to load the program (v2) or to
            // write devices.allow (v1): an error, never a cgroup left open.
            Result r = run(List.of("setpriv", "--inh-caps=-all", "--bounding-set=-sys_admin,-bpf", SHIM.toString(),
                    "devices", "--cgroup", cg.toString()), json("allow a * * rwm"));
            assertEquals(1, r.exit(), l + ": " + r.err());
            assertTrue(r.err().contains(l.v2() ? "bpf(BPF_PROG_LOAD)" : "devices"), r.err());
            assertTrue(r.err().contains("Operation not permitted"), r.err());
            assertEquals(Map.of("read null", "ok", "read zero", "EPERM"), attempt(cg, "read null", "read zero"), l.toString());
        }
    }
}
