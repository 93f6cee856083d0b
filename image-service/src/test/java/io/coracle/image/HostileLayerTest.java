package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.registry.Credentials;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
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
    TestRegistry registry;
    ImageService service;
    Path outside;

    @BeforeEach
    void start() throws Exception {
        registry = TestRegistry.start(tmp.resolve("registry"));
        service = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64"));
        outside = tmp.resolve("outside");
        Files.createDirectories(outside);
    }

    @AfterEach
    void stop() throws Exception {
        service.close();
        registry.close();
    }

    void assertRejected(String repo, Function<TestLayer, TestLayer> hostile) throws Exception {
        // A good first layer, so the test also sees that earlier snapshots are cleaned up.
        TestImage img = new TestImage()
                .layer(new TestLayer().file("good", "g\n").tar(), TestImage.Compression.GZIP)
                .layer(hostile.apply(new TestLayer().file("fine", "f\n")).tar(), TestImage.Compression.GZIP)
                .build(false);
        img.push(new TestPusher(registry.base()), repo, "1");
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

    @Test
    void escapingRelativeSymlink() throws Exception {
        assertRejected("h/rel-symlink", l -> l.dir("a").symlink("a/evil", "../../../../../../../../" + outside));
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
