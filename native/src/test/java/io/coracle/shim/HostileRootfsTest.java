package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.oci.Linux;
import io.coracle.oci.Mount;
import io.coracle.oci.OciJson;
import io.coracle.oci.Process;
import io.coracle.testing.DaemonProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What an attacker puts in an image or a spec: mount targets, masked paths and a cwd that are
 * symlinks to the host, and ids out of range. The host stays as it was; the container runs with
 * everything inside its own root, or is refused with the field named and no process.
 */
class HostileRootfsTest extends BusyboxRootfsTests {
    /** A host directory the image's symlinks point at: it must not change. */
    Path sentinel;

    /** The file targets the kubelet mounts, then a directory target (pod shm) and a hostPath volume. */
    static final List<String> FILE_TARGETS = List.of("/etc/hosts", "/etc/resolv.conf", "/etc/hostname",
            "/dev/termination-log");
    static final List<String> DIR_TARGETS = List.of("/dev/shm", "/data");

    @BeforeEach
    void makeSentinel() throws IOException {
        sentinel = Files.createTempDirectory(Path.of("/tmp"), "coracle-sentinel-");
    }

    @AfterEach
    void removeSentinel() throws IOException {
        DaemonProcess.deleteTree(sentinel);
    }

    /** Every entry below dir, never following a symlink: relative path to type, mode and content. */
    static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                String what;
                if (Files.isSymbolicLink(p)) {
                    what = "link " + Files.readSymbolicLink(p);
                } else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    what = "dir";
                } else {
                    what = "file " + Files.readString(p);
                }
                out.put(dir.relativize(p).toString(), what + " " + Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS));
            }
        }
        return out;
    }

    /** A symlink in the image, put in the container's upperdir (it shadows the shared lower layer). */
    static void imageSymlink(TestContainer c, String pathInImage, String text) throws IOException {
        Path link = c.upper.resolve(pathInImage.substring(1));
        Files.createDirectories(link.getParent());
        Files.createSymbolicLink(link, Path.of(text));
    }

    /** Where an absolute host path lands when resolved inside the container's root: in its upperdir. */
    Path inRoot(TestContainer c, String absolute) {
        return c.upper.resolve(absolute.substring(1));
    }

    static String name(String target) {
        return target.substring(target.lastIndexOf('/') + 1);
    }

    enum LinkKind {
        /** An absolute symlink to a host path that does not exist. */
        DANGLING_ABSOLUTE,
        /** An absolute symlink to a host file or directory that exists. */
        EXISTING_HOST_PATH,
        /** A relative symlink climbing far above the root, then down to the host path. */
        CLIMBING_RELATIVE
    }

    /** Bind sources (the pod's files, its shm dir and a hostPath volume) and their mounts. */
    static List<String> addKubeletMounts(TestContainer c) throws IOException {
        Path src = Files.createDirectories(c.dir.resolve("src"));
        List<String> expected = new ArrayList<>();
        for (String t : FILE_TARGETS) {
            Files.writeString(src.resolve(name(t)), "pod " + name(t) + "\n");
            c.extraMounts.add(new Mount(t, "bind", src.resolve(name(t)).toString(), List.of("rbind", "rprivate", "rw")));
            expected.add("pod " + name(t));
        }
        for (String t : DIR_TARGETS) {
            Path d = Files.createDirectories(src.resolve(name(t) + "-dir"));
            Files.writeString(d.resolve("in-" + name(t)), "volume " + name(t) + "\n");
            c.extraMounts.add(new Mount(t, "bind", d.toString(), List.of("rbind", "rprivate", "rw")));
            expected.add("volume " + name(t));
        }
        return expected;
    }

    static String catAll() {
        StringBuilder b = new StringBuilder("cat");
        FILE_TARGETS.forEach(t -> b.append(' ').append(t));
        DIR_TARGETS.forEach(t -> b.append(' ').append(t).append("/in-").append(name(t)));
        return b.toString();
    }

    @ParameterizedTest
    @EnumSource(LinkKind.class)
    void kubeletMountTargetsThatAreSymlinksToTheHostLandInsideTheRoot(LinkKind kind) throws Exception {
        for (String t : FILE_TARGETS) {
            if (kind == LinkKind.EXISTING_HOST_PATH) {
                Files.writeString(sentinel.resolve(name(t)), "host " + name(t) + "\n");
            }
        }
        for (String t : DIR_TARGETS) {
            if (kind == LinkKind.EXISTING_HOST_PATH) {
                Files.writeString(Files.createDirectories(sentinel.resolve(name(t))).resolve("host-only"), "host\n");
            }
        }
        Map<String, String> before = snapshot(sentinel);
        try (TestContainer c = new TestContainer(lower)) {
            c.devTmpfs = false; // the image's /dev, with its symlinks, is what the mounts land in
            List<String> expected = addKubeletMounts(c);
            for (String t : concat(FILE_TARGETS, DIR_TARGETS)) {
                String host = sentinel.resolve(name(t)).toString();
                imageSymlink(c, t, kind == LinkKind.CLIMBING_RELATIVE ? "../../../../../../../.." + host : host);
            }
            c.args = List.of("sh", "-c", catAll() + "; ls " + sentinel + "/shm; ls " + sentinel + "/data");
            ExitRecord exit = c.run();
            assertEquals(0, exit.exitCode(), c.logText());
            // Inside, each path shows what was mounted: the mounts went where the symlinks lead in the root.
            assertEquals(String.join("\n", expected) + "\nin-shm\nin-data\n", c.output("stdout"), c.logText());
            for (String t : FILE_TARGETS) {
                assertTrue(Files.isRegularFile(inRoot(c, sentinel.resolve(name(t)).toString())), t);
            }
            for (String t : DIR_TARGETS) {
                assertTrue(Files.isDirectory(inRoot(c, sentinel.resolve(name(t)).toString())), t);
            }
        }
        assertEquals(before, snapshot(sentinel), "the host changed");
    }

    @Test
    void danglingEtcHostsWithTheKubeletsBindCreatesNothingOnTheHost() throws Exception {
        // As reported: the shim made /tmp/<somewhere> on the host, following the image's symlink.
        try (TestContainer c = new TestContainer(lower)) {
            Path hosts = Files.writeString(c.dir.resolve("hosts"), "10.0.0.1 pod\n");
            c.extraMounts.add(new Mount("/etc/hosts", "bind", hosts.toString(), List.of("rbind", "rprivate", "rw")));
            imageSymlink(c, "/etc/hosts", sentinel + "/somewhere");
            c.args = List.of("cat", "/etc/hosts");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("10.0.0.1 pod\n", c.output("stdout"));
            assertTrue(Files.isRegularFile(inRoot(c, sentinel + "/somewhere")));
        }
        try (Stream<Path> s = Files.list(sentinel)) {
            assertEquals(List.of(), s.toList(), "created on the host");
        }
    }

    @Test
    void symlinkLoopAtAMountTargetIsRefused() throws Exception {
        Map<String, String> before = snapshot(sentinel);
        for (String t : concat(FILE_TARGETS, DIR_TARGETS)) {
            try (TestContainer c = new TestContainer(lower)) {
                c.devTmpfs = false;
                addKubeletMounts(c);
                imageSymlink(c, t, t + ".loop");
                imageSymlink(c, t + ".loop", t);
                ShimException e = assertThrows(ShimException.class, c::create);
                assertTrue(e.getMessage().contains("mounts[") && e.getMessage().contains(t)
                        && (e.getMessage().contains("Too many levels of symbolic links") // glibc's ELOOP
                        || e.getMessage().contains("Symbolic link loop")), e.getMessage()); // musl's
                assertFalse(Files.exists(c.state), "state dir left behind");
            }
        }
        assertEquals(before, snapshot(sentinel), "the host changed");
    }

    @Test
    void etcThatIsASymlinkToAHostDirectoryGetsItsMountsInsideTheRoot() throws Exception {
        Path hostEtc = Files.createDirectories(sentinel.resolve("etc"));
        Files.writeString(hostEtc.resolve("hosts"), "host hosts\n");
        Map<String, String> before = snapshot(sentinel);
        for (String text : List.of(hostEtc.toString(), "../../../../../.." + hostEtc, sentinel + "/missing-etc")) {
            try (TestContainer c = new TestContainer(lower)) {
                addKubeletMounts(c);
                imageSymlink(c, "/etc", text);
                c.args = List.of("sh", "-c", "cat /etc/hosts /etc/resolv.conf /etc/hostname");
                assertEquals(0, c.run().exitCode(), c.logText());
                assertEquals("pod hosts\npod resolv.conf\npod hostname\n", c.output("stdout"));
                String etcInRoot = text.endsWith("missing-etc") ? sentinel + "/missing-etc" : hostEtc.toString();
                assertTrue(Files.isRegularFile(inRoot(c, etcInRoot + "/hosts")), text);
            }
        }
        assertEquals(before, snapshot(sentinel), "the host changed");
    }

    @Test
    void volumeBelowASymlinkedDirectoryIsMadeInsideTheRoot() throws Exception {
        Map<String, String> before = snapshot(sentinel);
        try (TestContainer c = new TestContainer(lower)) {
            Path vol = Files.createDirectories(c.dir.resolve("vol"));
            Files.writeString(vol.resolve("f"), "volume\n");
            imageSymlink(c, "/data", sentinel + "/a");
            // Inside the root, that directory is itself a relative symlink (with "..", and a trailing slash).
            imageSymlink(c, sentinel + "/a", "../" + sentinel.getFileName() + "/b/");
            c.extraMounts.add(new Mount("/data/x/y", "bind", vol.toString(), List.of("rbind", "ro")));
            c.args = List.of("sh", "-c", "cat /data/x/y/f; touch /data/x/y/g || echo refused");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("volume\nrefused\n", c.output("stdout"), c.logText());
            assertTrue(Files.isDirectory(inRoot(c, sentinel + "/b/x/y")));
            assertFalse(Files.exists(vol.resolve("g")));
        }
        assertEquals(before, snapshot(sentinel), "the host changed");
    }

    @Test
    void maskedAndReadonlyPathsThatAreSymlinksToTheHostStayInsideTheRoot() throws Exception {
        Files.writeString(sentinel.resolve("secret"), "host secret\n");
        Files.writeString(Files.createDirectories(sentinel.resolve("secretdir")).resolve("f"), "host\n");
        Files.createDirectories(sentinel.resolve("rodir"));
        Map<String, String> before = snapshot(sentinel);
        try (TestContainer c = new TestContainer(lower)) {
            c.masked = List.of("/proc/keys", "/etc/secret", "/etc/secretdir", "/etc/dangling");
            c.readonly = List.of("/proc/sys", "/etc/rodir");
            imageSymlink(c, "/etc/secret", sentinel + "/secret");
            imageSymlink(c, "/etc/secretdir", "../../../../../.." + sentinel + "/secretdir");
            imageSymlink(c, "/etc/dangling", sentinel + "/nothing");
            imageSymlink(c, "/etc/rodir", sentinel + "/rodir");
            // Inside the root the same paths hold the image's own content.
            Path inside = Files.createDirectories(inRoot(c, sentinel.toString()));
            Files.writeString(inside.resolve("secret"), "image secret\n");
            Files.writeString(Files.createDirectories(inside.resolve("secretdir")).resolve("f"), "image\n");
            Files.createDirectories(inside.resolve("rodir"));
            c.args = List.of("sh", "-c", "cat /etc/secret; ls /etc/secretdir | wc -l; touch /etc/rodir/x || echo ro;"
                    + " cat /etc/dangling || echo absent");
            c.run();
            assertEquals("0\nro\nabsent\n", c.output("stdout"), c.logText());
            assertTrue(c.output("stderr").contains("Read-only file system"), c.logText());
            assertFalse(Files.exists(inside.resolve("nothing"), LinkOption.NOFOLLOW_LINKS));
        }
        assertEquals(before, snapshot(sentinel), "the host changed");
    }

    @Test
    void cwdThatIsASymlinkToTheHostResolvesInsideTheRoot() throws Exception {
        Files.writeString(Files.createDirectories(sentinel.resolve("work")).resolve("host-only"), "host\n");
        Map<String, String> before = snapshot(sentinel);
        try (TestContainer c = new TestContainer(lower)) {
            c.cwd = "/work";
            imageSymlink(c, "/work", sentinel + "/work");
            // Not in the root: refused, and nothing runs.
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("process.cwd") && e.getMessage().contains("No such file"), e.getMessage());
            assertFalse(Files.exists(c.state), "state dir left behind");
            // In the root: the container's directory, not the host's.
            Files.writeString(Files.createDirectories(inRoot(c, sentinel + "/work")).resolve("image-only"), "image\n");
            c.args = List.of("sh", "-c", "pwd -P; ls");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals(sentinel + "/work\nimage-only\n", c.output("stdout"));
        }
        try (TestContainer c = new TestContainer(lower)) {
            // A magic link (another process's cwd or root, with a host PID namespace) is never the cwd.
            c.cwd = "/proc/self/cwd";
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("process.cwd"), e.getMessage());
        }
        assertEquals(before, snapshot(sentinel), "the host changed");
    }

    @Test
    void devicesAreMadeInsideTheRootAndTheirNumbersChecked() throws Exception {
        Files.createDirectories(sentinel.resolve("devdir"));
        Map<String, String> before = snapshot(sentinel);
        try (TestContainer c = new TestContainer(lower)) {
            c.devTmpfs = false;
            imageSymlink(c, "/dev/hostdev", sentinel + "/devdir");
            imageSymlink(c, "/dev/evil", sentinel + "/evil"); // dangling: mknod does not follow it
            c.devices = List.of(new Linux.Device("/dev/hostdev/null2", "c", 1L, 3L, 0640, 1000L, 1001L),
                    new Linux.Device("/dev/evil", "c", 1L, 5L, 0666, 0L, 0L));
            c.args = List.of("sh", "-c", "stat -c '%t:%T %a %u:%g' /dev/hostdev/null2; test -e /dev/evil || echo absent");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("1:3 640 1000:1001\nabsent\n", c.output("stdout"));
            assertTrue(Files.exists(inRoot(c, sentinel + "/devdir/null2"), LinkOption.NOFOLLOW_LINKS));
        }
        assertEquals(before, snapshot(sentinel), "the host changed");
        Map<Linux.Device, String> refused = Map.of(
                new Linux.Device("/dev/d", "c", 1L, 3L, 0666, 4294967296L, 0L), "linux.devices[0].uid: 4294967296 is not a valid id",
                new Linux.Device("/dev/d", "c", 1L, 3L, 0666, 0L, -1L), "linux.devices[0].gid: -1 is not a valid id",
                new Linux.Device("/dev/d", "c", 1L, 3L, 070000, 0L, 0L), "linux.devices[0].fileMode",
                new Linux.Device("/dev/d", "c", 4096L, 3L, 0666, 0L, 0L), "linux.devices[0]: major (0..4095)",
                new Linux.Device("d", "c", 1L, 3L, 0666, 0L, 0L), "linux.devices: bad path 'd'");
        for (Map.Entry<Linux.Device, String> r : refused.entrySet()) {
            try (TestContainer c = new TestContainer(lower)) {
                c.devices = List.of(r.getKey());
                ShimException e = assertThrows(ShimException.class, c::create);
                assertTrue(e.getMessage().contains(r.getValue()), e.getMessage());
            }
        }
    }

    /** Writes the config with the given JSON text in place of one id, and expects create to refuse it. */
    static ShimException createWithId(TestContainer c, String field, String text) throws IOException {
        c.user = new Process.User(11111, 22222, null, List.of(33333L));
        OciJson.writeConfig(c.bundle, c.spec());
        Path config = c.bundle.resolve("config.json");
        // The key with its value: a bare number may also occur in a temp dir's random name.
        String placeholder = switch (field) {
            case "uid" -> "\"uid\":11111";
            case "gid" -> "\"gid\":22222";
            default -> "\"additionalGids\":[33333";
        };
        String json = Files.readString(config);
        assertEquals(1, json.split(java.util.regex.Pattern.quote(placeholder), -1).length - 1, json);
        Files.writeString(config, json.replace(placeholder, placeholder.replaceFirst("\\d+$", java.util.regex.Matcher.quoteReplacement(text))));
        return assertThrows(ShimException.class, () -> new ShimLauncher(TestContainer.PROGRAMS)
                .create(new CreateRequest(c.bundle, c.state, c.log, false), Duration.ofSeconds(10)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"4294967296", "2147483648", "-1", "1e10", "99999999999999999999", "1.0", "1e3", "-0.5",
            "\"0\"", "null", "true"})
    void idsOutsideZeroTo2Pow31AreRefusedNamingTheField(String text) throws Exception {
        for (String field : List.of("uid", "gid", "additionalGids")) {
            try (TestContainer c = new TestContainer(lower)) {
                ShimException e = createWithId(c, field, text);
                String want = field.equals("additionalGids") ? "process.user.additionalGids[0]" : "process.user." + field;
                assertTrue(e.getMessage().contains(want + ": ") && e.getMessage().contains("not a valid id (an integer in 0..2147483647)"),
                        text + " as " + field + ": " + e.getMessage());
                assertFalse(Files.exists(c.state), "state dir left behind: a process was started");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0x10", "01", "+1", "1.", ".5", "1e", "-", "Infinity", "NaN"})
    void numbersOutsideTheJsonGrammarAreInvalidJson(String text) throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            ShimException e = createWithId(c, "uid", text);
            assertTrue(e.getMessage().contains("invalid JSON"), text + ": " + e.getMessage());
            assertFalse(Files.exists(c.state));
        }
    }

    @Test
    void theLargestIdIsTaken() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.user = new Process.User(2147483647L, 2147483647L, null, List.of(2147483646L));
            c.args = List.of("sh", "-c", "id -u; id -g; id -G");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("2147483647\n2147483647\n2147483647 2147483646\n", c.output("stdout"));
        }
    }

    @Test
    void execWithAnIdOutOfRangeIsRefusedAndMountOptionIdsAreChecked() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.args = List.of("sleep", "30");
            ShimClient client = c.create();
            client.start();
            Process p = new Process(false, null, new Process.User(4294967296L, 0, null, null), List.of("id", "-u"),
                    List.of("PATH=/bin"), "/", c.caps, null, true, null);
            ShimException e = assertThrows(ShimException.class,
                    () -> new ExecRunner(TestContainer.PROGRAMS).run(client, p, Duration.ofSeconds(10), 1 << 20));
            assertTrue(e.getMessage().contains("process.user.uid: 4294967296 is not a valid id"), e.getMessage());
        }
        for (String opt : List.of("uid=4294967296", "gid=-1", "uid=2147483648", "gid=1e3")) {
            try (TestContainer c = new TestContainer(lower)) {
                c.extraMounts.add(new Mount("/scratch", "tmpfs", "tmpfs", List.of("nosuid", opt)));
                ShimException e = assertThrows(ShimException.class, c::create);
                assertTrue(e.getMessage().contains(".options: '" + opt + "': not an id in 0..2147483647"), e.getMessage());
            }
        }
    }

    static List<String> concat(List<String> a, List<String> b) {
        List<String> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}
