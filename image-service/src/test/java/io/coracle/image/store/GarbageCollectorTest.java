package io.coracle.image.store;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.Digest;
import io.coracle.image.content.ContentStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GarbageCollectorTest {

    @Test
    void aPartialDownloadStaysWhileItsPullLeasesItAndGoesAfter(@TempDir Path root) throws Exception {
        ContentStore content = new ContentStore(root);
        GarbageCollector gc = new GarbageCollector(new ImageStore(root), new ImageLeases(root), content, new SnapshotStore(root));
        Digest pulling = new Digest("a".repeat(64));
        Digest dead = new Digest("b".repeat(64)); // a pull killed with the daemon left it
        Files.write(content.ingestPath(pulling), new byte[100]);
        Files.write(content.ingestPath(dead), new byte[100]);

        gc.leaseForPull("pull-1", List.of(), List.of(pulling.toString()));
        gc.collect();
        assertTrue(Files.exists(content.ingestPath(pulling)), "a pull in flight resumes from its partial");
        assertFalse(Files.exists(content.ingestPath(dead)), "no pull holds it");

        gc.releasePull("pull-1");
        gc.collect();
        assertFalse(Files.exists(content.ingestPath(pulling)));
    }
}
