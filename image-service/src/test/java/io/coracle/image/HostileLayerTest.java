package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.registry.Credentials;
import io.coracle.image.store.ImageRecord;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Layers that try to write outside their snapshot fail the pull and leave nothing behind. */
class HostileLayerTest {
    @TempDir
    Path tmp;
    LocalRegistry registry;
    ImageService service;
    Path outside;
    /** A host dir and file outside every layer, and their state before the pull. */
    Path host;
    Path victim;
    String before;

    @BeforeEach
    void start() throws Exception {
        registry = LocalRegistry.start(tmp.resolve("registry"));
        service = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64"));
        outside = tmp.resolve("outside");
        Files.createDirectories(outside);
        host = Files.createDirectories(tmp.resolve("host"));
        victim = Files.writeString(host.resolve("victim"), "host secret\n");
        before = hostState();
    }

    @AfterEach
    void stop() throws Exception {
        service.close();
        registry.close();
    }

    void assertRejected(String repo, Function<TestLayer, TestLayer> hostile) throws Exception {
        // A good first layer, so the test also sees that earlier snapshots are cleaned up.
        assertRejected(repo, hostile, new TestLayer().file("good", "g\n"));
    }

    void assertRejected(String repo, Function<TestLayer, TestLayer> hostile, TestLayer first) throws Exception {
        TestImage img = new TestImage()
                .layer(first.tar(), TestImage.Compression.GZIP)
                .layer(hostile.apply(new TestLayer().file("fine", "f\n")).tar(), TestImage.Compression.GZIP)
                .build(false);
        img.push(new RegistryPusher(registry.base()), repo, "1");
        ImageException e = assertThrows(ImageException.class,
                () -> service.pull(registry.host() + "/" + repo + ":1", Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.HOSTILE_LAYER, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("rejected tar entry"), e.getMessage());
        assertTrue(service.list().isEmpty());
        try (Stream<Path> s = Files.list(tmp.resolve("root/snapshots"))) {
            assertEquals(0, s.count(), "no snapshot, complete or temporary, is left");
        }
        try (Stream<Path> s = Files.list(tmp.resolve("root/blobs/sha256"))) {
            assertEquals(0, s.count(), "no blob is left");
        }
        try (Stream<Path> s = Files.list(outside)) {
            assertEquals(0, s.count(), "nothing written outside");
        }
        assertEquals(before, hostState(), "the host is unchanged");
        for (String name : new String[] {"escape", "pwned"}) {
            assertFalse(Files.exists(tmp.resolve("root").resolve(name), LinkOption.NOFOLLOW_LINKS));
            assertFalse(Files.exists(tmp.resolve(name), LinkOption.NOFOLLOW_LINKS));
        }
    }

    @Test
    void dotDotEntry() throws Exception {
        assertRejected("h/dotdot", l -> l.raw("../escape", "x"));
        assertRejected("h/dotdot-deep", l -> l.raw("a/../../../../escape", "x"));
    }

    @Test
    void absoluteEntry() throws Exception {
        assertRejected("h/abs", l -> l.raw(outside.resolve("pwned").toString(), "x"));
    }

    String hostState() throws Exception {
        return ConfinedUnpackTest.hostState(host, victim);
    }

    /** Pulls a two-layer image; returns its snapshot dirs, bottom first. */
    List<Path> pull(String repo, TestLayer bottom, TestLayer top) throws Exception {
        new TestImage().layer(bottom.tar(), TestImage.Compression.GZIP).layer(top.tar(), TestImage.Compression.ZSTD)
                .build(false).push(new RegistryPusher(registry.base()), repo, "1");
        ImageRecord r = service.pull(registry.host() + "/" + repo + ":1", Credentials.ANONYMOUS);
        return service.lowerDirs(r.id()).reversed();
    }

    @Test
    void symlinksClimbingAboveTheRootAreStoredVerbatim() throws Exception {
        // Never followed on the host; in a container the kernel clamps them at its root.
        String target = "../../../../../../../../" + outside;
        List<Path> layers = pull("h/rel-symlink", new TestLayer().file("good", "g\n"), new TestLayer().dir("a").symlink("a/evil", target));
        assertEquals(target, Files.readSymbolicLink(layers.get(1).resolve("a/evil")).toString());
        try (Stream<Path> s = Files.list(outside)) {
            assertEquals(0, s.count(), "nothing written outside");
        }
    }

    @Test
    void aLowerLayersSymlinkIsNotFollowedByTheLayerAbove() throws Exception {
        // Layer 1 makes x a symlink to a host dir; layer 2 declares x/ setuid, owned by 4242, and writes below it.
        TestLayer top = ConfinedUnpackTest.dir(new TestLayer(), "x", 04777, 4242, 1_600_000_000_000L,
                Map.of("user.pwn", "1".getBytes(), "trusted.overlay.opaque", new byte[] {'y'}));
        ConfinedUnpackTest.file(top, "x/victim", "pwned\n", 04777, 4242, Map.of());
        List<Path> layers = pull("h/two-layers", new TestLayer().symlink("x", host.toString()), top);
        assertEquals(host.toString(), Files.readSymbolicLink(layers.get(0).resolve("x")).toString());
        // Each layer unpacks into its own snapshot: x/ is a plain directory of layer 2.
        Path x = layers.get(1).resolve("x");
        assertEquals(04777, (int) Files.getAttribute(x, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777);
        assertEquals("pwned\n", Files.readString(x.resolve("victim")));
        assertEquals(before, hostState(), "the host is unchanged");
    }

    @Test
    void hardLinksToALowerLayersSymlinkCopyTheSymlink() throws Exception {
        // a link to a lower symlink is copied up as that symlink
        List<Path> layers = pull("h/lower-symlink", new TestLayer().symlink("s", victim.toString()), new TestLayer().hardlink("h", "s"));
        assertEquals(victim.toString(), Files.readSymbolicLink(layers.get(1).resolve("h")).toString());
        assertEquals(before, hostState(), "the host is unchanged");
    }

    @Test
    void hardLinksThroughALowerLayersSymlinkAreHostile() throws Exception {
        // a link through a lower symlink would name a host file
        assertRejected("h/lower-through-symlink", l -> l.hardlink("h", "x/victim"), new TestLayer().symlink("x", host.toString()));
    }

    @Test
    void writeThroughSymlinkedParent() throws Exception {
        assertRejected("h/abs-symlink", l -> l.symlink("evil", outside.toString()).raw("evil/pwned", "x"));
    }

    @Test
    void escapingHardLink() throws Exception {
        assertRejected("h/hardlink", l -> l.hardlink("evil", "../../../../../etc/passwd"));
        assertRejected("h/hardlink-via-symlink", l -> l.symlink("s", outside.toString()).hardlink("evil", "s/anything"));
    }
}
