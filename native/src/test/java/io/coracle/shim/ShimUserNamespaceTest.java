package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.oci.Linux;
import io.coracle.sys.PauseLauncher;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The shim joining a pod's user namespace (made by coracle-pause --uid-map/--gid-map): the container's
 * root is the mapped host uid, the image's files show as root's through the idmapped layers with the
 * layer unchanged, and a config.json whose maps are not the namespace's, or are out of range, or come
 * without a namespace to join, is refused before the container exists.
 */
class ShimUserNamespaceTest extends BusyboxRootfsTests {
    static final long HOST = (1L << 30) + 65536L * 2000 + 65536L * (System.nanoTime() % 100);
    int pause;

    @BeforeEach
    void startPause() throws Exception {
        pause = new PauseLauncher(TestContainer.PROGRAMS).launch(Set.of("net", "ipc", "uts", "pid"), "userns", null,
                Duration.ofSeconds(10), List.of("--uid-map", "0:" + HOST + ":65536", "--gid-map", "0:" + HOST + ":65536"));
    }

    @AfterEach
    void stopPause() throws Exception {
        new ProcessBuilder("kill", "-9", String.valueOf(pause)).start().waitFor();
    }

    private TestContainer inPod(List<Linux.IdMapping> uids, List<Linux.IdMapping> gids) throws Exception {
        TestContainer c = new TestContainer(lower);
        c.namespaces = new java.util.ArrayList<>(List.of(TestContainer.ns("mount"),
                new Linux.Namespace("user", "/proc/" + pause + "/ns/user"),
                new Linux.Namespace("pid", "/proc/" + pause + "/ns/pid"),
                new Linux.Namespace("network", "/proc/" + pause + "/ns/net"),
                new Linux.Namespace("ipc", "/proc/" + pause + "/ns/ipc"),
                new Linux.Namespace("uts", "/proc/" + pause + "/ns/uts")));
        c.uidMappings = uids;
        c.gidMappings = gids;
        Files.setAttribute(c.upper, "unix:uid", (int) HOST);
        Files.setAttribute(c.upper, "unix:gid", (int) HOST);
        return c;
    }

    static List<Linux.IdMapping> map(long container, long host, long size) {
        return List.of(new Linux.IdMapping(container, host, size));
    }

    @Test
    void theContainersRootIsTheMappedHostUidAndTheLayerIsUnchanged() throws Exception {
        try (TestContainer c = inPod(map(0, HOST, 65536), map(0, HOST, 65536))) {
            c.args = List.of("sh", "-c", "id -u; stat -c %u:%g /bin/busybox; cat /proc/self/uid_map; touch /made; sleep 30");
            ShimClient client = c.create();
            client.start();
            long deadline = System.nanoTime() + 10_000_000_000L;
            // Until the file exists and the three lines before it reached the log (the shim pumps it apart).
            while (!c.output("stdout").contains("touch") && (!Files.exists(c.upper.resolve("made"))
                    || c.output("stdout").lines().count() < 3) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            String out = c.output("stdout");
            assertTrue(out.startsWith("0\n0:0\n"), out);
            assertEquals("0 " + HOST + " 65536", out.lines().skip(2).findFirst().orElse("").strip().replaceAll("\\s+", " "));
            assertEquals((int) HOST, Files.getAttribute(c.upper.resolve("made"), "unix:uid", LinkOption.NOFOLLOW_LINKS));
            assertEquals(0, Files.getAttribute(c.lower.resolve("bin/busybox"), "unix:uid", LinkOption.NOFOLLOW_LINKS));
            String uid = Files.readAllLines(Path.of("/proc/" + client.state().pid() + "/status")).stream()
                    .filter(l -> l.startsWith("Uid:")).findFirst().orElseThrow().split("\\s+")[1];
            assertEquals(String.valueOf(HOST), uid);
        }
    }

    /** Two lower layers of an image volume, owned by the host's root, one file each (one 0600). */
    private static String imageVolumeLayers(Path dir) throws Exception {
        Path top = Files.createDirectories(dir.resolve("vol-top")), bottom = Files.createDirectories(dir.resolve("vol-bottom"));
        Files.writeString(top.resolve("top.txt"), "from the top layer\n");
        Files.writeString(bottom.resolve("secret"), "root only\n");
        Files.setPosixFilePermissions(bottom.resolve("secret"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        return top + ":" + bottom;
    }

    @Test
    void anImageVolumeIsItsIdmappedLayersReadOnlyAndTheLayersAreUnchanged() throws Exception {
        try (TestContainer c = inPod(map(0, HOST, 65536), map(0, HOST, 65536))) {
            String lowers = imageVolumeLayers(c.dir);
            c.extraMounts.add(new io.coracle.oci.Mount("/vol", "overlay", "overlay", List.of("ro", "nodev", "lowerdir=" + lowers)));
            c.args = List.of("sh", "-c", "stat -c %u:%g /vol/secret; cat /vol/top.txt /vol/secret;"
                    + " touch /vol/new 2>/dev/null && echo WROTE; echo done");
            ShimClient client = c.create();
            client.start();
            client.awaitExit(Duration.ofSeconds(10)).orElseThrow();
            // root in the pod is the layers' owner through the idmap: it reads the 0600 file; nothing is written.
            assertEquals("0:0\nfrom the top layer\nroot only\ndone\n", c.output("stdout"));
            assertFalse(Files.exists(c.dir.resolve("vol-top/new")));
            assertEquals(0, Files.getAttribute(c.dir.resolve("vol-bottom/secret"), "unix:uid", LinkOption.NOFOLLOW_LINKS));
        }
    }

    @Test
    void anOverlayInAUserNamespaceWithAnUpperDirOrWritableIsRefused() throws Exception {
        for (List<String> options : List.of(
                List.of("ro", "nodev", "lowerdir=LOWERS,upperdir=UP,workdir=WORK"), // copy-ups as the host's root
                List.of("rw", "nodev", "lowerdir=LOWERS"),
                List.of("ro", "nodev", "lowerdir="),
                List.of("ro", "nodev", "upperdir=UP"))) {
            try (TestContainer c = inPod(map(0, HOST, 65536), map(0, HOST, 65536))) {
                String lowers = imageVolumeLayers(c.dir);
                Path up = Files.createDirectories(c.dir.resolve("vol-up")), work = Files.createDirectories(c.dir.resolve("vol-work"));
                c.extraMounts.add(new io.coracle.oci.Mount("/vol", "overlay", "overlay", options.stream()
                        .map(o -> o.replace("LOWERS", lowers).replace("UP", up.toString()).replace("WORK", work.toString())).toList()));
                c.args = List.of("true");
                ShimException e = assertThrows(ShimException.class, c::create, options.toString());
                assertEquals(ShimException.ErrorClass.INVALID, e.errorClass(), e.getMessage());
                assertTrue(e.getMessage().contains("an overlay in a user namespace"), e.getMessage());
                assertFalse(Files.exists(c.state.resolve("state.json")), "state left behind");
                try (var left = Files.list(up)) {
                    assertEquals(0, left.count(), "the upper dir was written");
                }
            }
        }
    }

    private void refused(List<Linux.IdMapping> uids, List<Linux.IdMapping> gids, String why) throws Exception {
        refused(uids, gids, why, null);
    }

    private void refused(List<Linux.IdMapping> uids, List<Linux.IdMapping> gids, String why, Path runtime)
            throws Exception {
        try (TestContainer c = inPod(uids, gids)) {
            c.args = List.of("true");
            c.runtime = runtime;
            ShimException e = assertThrows(ShimException.class, c::create);
            assertEquals(ShimException.ErrorClass.INVALID, e.errorClass(), e.getMessage());
            assertTrue(e.getMessage().contains(why), e.getMessage());
            assertFalse(Files.exists(c.state.resolve("state.json")), "state left behind");
        }
    }

    @Test
    void mapsThatAreNotTheNamespacesOrOutOfRangeAreRefused() throws Exception {
        refused(map(0, HOST + 65536, 65536), map(0, HOST, 65536), "uidMappings: not the mapping of the user namespace joined");
        refused(map(0, HOST, 65536), map(0, HOST, 65535), "gidMappings: not the mapping of the user namespace joined");
        refused(map(0, HOST, 65536), null, "uidMappings and gidMappings are required");
        refused(map(0, 4294967295L - 10, 65536), map(0, HOST, 65536), "ids past 4294967294");
        refused(map(0, 4294967295L, 1), map(0, HOST, 65536), "uidMappings[0].hostID: not a number in 0..4294967294");
        refused(map(0, HOST, 0), map(0, HOST, 65536), "length 0");
        refused(List.of(new Linux.IdMapping(0, HOST, 65536), new Linux.IdMapping(10, HOST + 70000, 5)), map(0, HOST, 65536),
                "overlap");
        refused(map(0, -1, 1), map(0, HOST, 65536), "not a number");
    }

    @Test
    void anOciRuntimeIsHandedOnlyTheNamespacesOwnMaps() throws Exception {
        Path runc = Path.of("/usr/sbin/runc");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(runc), "runc is installed");
        // runc would take the spec's maps as they are (it joins by path): the shim checks them first.
        refused(map(0, HOST + 65536, 65536), map(0, HOST, 65536), "uidMappings: not the mapping of the user namespace joined", runc);
        refused(map(0, HOST, 65536), map(0, 0, 65536), "gidMappings: not the mapping of the user namespace joined", runc);
        refused(map(0, HOST, 0), map(0, HOST, 65536), "length 0", runc);
        refused(map(0, 4294967295L - 10, 65536), map(0, HOST, 65536), "ids past 4294967294", runc);
        refused(map(0, HOST, 65536), null, "uidMappings and gidMappings are required", runc);
    }

    /**
     * The idmapped copies go over their sources in the shim's own mount namespace: a propagation that
     * leaves any mount shared with the host's (rshared, shared, or a non-recursive slave/private that
     * keeps the submounts shared) is refused before anything is mounted, and the host sees no new mount.
     */
    @Test
    void aPropagationThatCouldCarryTheIdmappedCopiesToTheHostIsRefused() throws Exception {
        Path runc = Path.of("/usr/sbin/runc");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(runc), "runc is installed");
        Path source = Files.createTempDirectory(Path.of("/tmp"), "coracle-userns-src-");
        try {
            for (String propagation : List.of("rshared", "shared", "slave", "private", "unbindable", "runbindable")) {
                try (TestContainer c = inPod(map(0, HOST, 65536), map(0, HOST, 65536))) {
                    c.args = List.of("true");
                    c.runtime = runc;
                    c.rootfsPropagation = propagation;
                    c.extraMounts.add(new io.coracle.oci.Mount("/data", "bind", source.toString(), List.of("rbind")));
                    ShimException e = assertThrows(ShimException.class, c::create, propagation);
                    assertEquals(ShimException.ErrorClass.INVALID, e.errorClass(), e.getMessage());
                    assertTrue(e.getMessage().contains("only rprivate or rslave"), propagation + ": " + e.getMessage());
                    assertFalse(Files.exists(c.state.resolve("state.json")), "state left behind");
                    assertEquals(List.of(), TestContainer.mountsMentioning(c.bundle.toString()), "no rootfs on the host");
                }
            }
            assertEquals(List.of(), TestContainer.mountsMentioning(source.toString()), "no copy reached the host");
        } finally {
            Files.delete(source);
        }
    }

    /** coracle-shim userns-probe DIR --runtime PATH in a new passable dir: its exit status and output; DIR removed. */
    private static String probe(Path runtime) throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "coracle-userns-probe-",
                java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x")));
        try {
            Process p = new ProcessBuilder(TestContainer.PROGRAMS.shim().toString(), "userns-probe", dir.toString(),
                    "--runtime", runtime.toString()).redirectErrorStream(true).start();
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
            return p.exitValue() + " " + new String(p.getInputStream().readAllBytes()).strip();
        } finally {
            io.coracle.sys.FileTrees.delete(dir);
        }
    }

    @Test
    void theRuntimeProbeRunsAContainerOfTheRuntimeInAUserNamespace() throws Exception {
        Path runc = Path.of("/usr/sbin/runc");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(runc), "runc is installed");
        assertEquals("0 ok", probe(runc));
        // A runtime that runs nothing fails the probe, with its status.
        assertEquals("1 /bin/false run of a container in a user namespace exited 1: (it printed nothing)", probe(Path.of("/bin/false")));
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains("coracle-userns-probe-"));
    }

    @Test
    void mapsWithoutAUserNamespaceToJoinAreRefused() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.uidMappings = map(0, HOST, 65536);
            c.gidMappings = map(0, HOST, 65536);
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("without a user namespace to join"), e.getMessage());
        }
        try (TestContainer c = new TestContainer(lower)) {
            c.namespaces.add(TestContainer.ns("user")); // one of its own: never made by the shim
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("only joined by path"), e.getMessage());
        }
    }
}
