package io.coracle.image.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageLeasesTest {
    @TempDir
    Path root;

    @Test
    void aTempFileOfAKilledWriteIsRemovedAtLoadAndTheLeasesStay() throws Exception {
        Path dir = Files.createDirectories(root.resolve("leases"));
        Files.writeString(dir.resolve("c1.json"),
                "{\"holder\":\"c1\",\"imageId\":\"sha256:aa\",\"chainIds\":[],\"blobs\":[]}");
        Path torn = Files.writeString(dir.resolve(".c2.json.tmp"), "{\"holder\":\"c2\",\"ima");
        // A symlink in its place is removed itself; what it points at stays.
        Path outside = Files.writeString(root.resolve("host-file"), "host");
        Path link = Files.createSymbolicLink(dir.resolve(".c3.json.tmp"), outside);

        ImageLeases leases = new ImageLeases(root);

        assertFalse(Files.exists(torn, LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(link, LinkOption.NOFOLLOW_LINKS));
        assertEquals("host", Files.readString(outside));
        assertTrue(Files.exists(dir.resolve("c1.json")));
        assertEquals(java.util.Set.of("c1"), leases.persistedHolders());
        assertTrue(leases.isImageLeased("sha256:aa"));
    }
}
