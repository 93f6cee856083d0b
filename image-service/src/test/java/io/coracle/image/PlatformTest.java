package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.content.Descriptor;
import io.coracle.image.content.ManifestDocument;
import io.coracle.image.content.MediaTypes;
import java.util.List;
import org.junit.jupiter.api.Test;

class PlatformTest {
    static Descriptor d(String digestChar, String os, String arch, String variant) {
        return new Descriptor(MediaTypes.OCI_MANIFEST, "sha256:" + digestChar.repeat(64), 1, null,
                new Descriptor.PlatformSpec(os, arch, variant), null);
    }

    static ManifestDocument index(Descriptor... ds) {
        return new ManifestDocument(2, MediaTypes.OCI_INDEX, null, null, List.of(ds), null);
    }

    @Test
    void picksExactArchAndBestVariant() {
        ManifestDocument idx = index(d("a", "unknown", "unknown", null), d("b", "linux", "arm", "v7"),
                d("c", "linux", "arm64", null), d("d", "linux", "amd64", null), d("e", "windows", "amd64", null));
        assertEquals("sha256:" + "d".repeat(64), ImagePuller.selectPlatform(idx, Platform.parse("linux/amd64"), "x").digest());
        // arm64 without a variant counts as v8
        assertEquals("sha256:" + "c".repeat(64), ImagePuller.selectPlatform(idx, Platform.parse("linux/arm64/v8"), "x").digest());
        assertEquals("sha256:" + "b".repeat(64), ImagePuller.selectPlatform(idx, Platform.parse("linux/arm/v7"), "x").digest());
    }

    @Test
    void olderVariantRunsOnNewerCpu() {
        ManifestDocument idx = index(d("a", "linux", "arm", "v6"), d("b", "linux", "arm", "v5"));
        assertEquals("sha256:" + "a".repeat(64), ImagePuller.selectPlatform(idx, Platform.parse("linux/arm/v7"), "x").digest());
        assertTrue(Platform.parse("linux/amd64/v2").score("linux", "amd64", "v3") < 0, "a v3 image does not run on a v2 CPU");
    }

    @Test
    void noMatchNamesThePlatform() {
        ImageException e = org.junit.jupiter.api.Assertions.assertThrows(ImageException.class,
                () -> ImagePuller.selectPlatform(index(d("a", "linux", "s390x", null)), Platform.parse("linux/amd64"), "img"));
        assertEquals(ImageException.Reason.NOT_FOUND, e.reason());
        assertTrue(e.getMessage().contains("linux/amd64"));
    }
}
