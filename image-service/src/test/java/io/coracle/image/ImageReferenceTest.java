package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ImageReferenceTest {
    @org.junit.jupiter.api.Test
    void aRepeatedReferenceIsParsedOnceAndABadOneIsRefusedEveryTime() {
        ImageReference first = ImageReference.parse("registry.example:5000/team/app:v1");
        org.junit.jupiter.api.Assertions.assertSame(first, ImageReference.parse("registry.example:5000/team/app:v1"));
        assertEquals("registry.example:5000", first.registry());
        for (int i = 0; i < 2; i++) {
            ImageException e = assertThrows(ImageException.class, () -> ImageReference.parse("Team/App"));
            assertTrue(e.getMessage().contains("Team/App"), e.getMessage());
        }
        for (int i = 0; i < 600; i++) { // past the memo's bound: still parsed right
            assertEquals("x" + i, ImageReference.parse("x" + i + ":t").repository().substring("library/".length()));
        }
    }

    static final String D = "sha256:" + "ab".repeat(32);

    @ParameterizedTest
    @CsvSource({
            "busybox, docker.io/library/busybox:latest",
            "busybox:1.36, docker.io/library/busybox:1.36",
            "library/busybox, docker.io/library/busybox:latest",
            "docker.io/busybox, docker.io/library/busybox:latest",
            "index.docker.io/library/busybox:1, docker.io/library/busybox:1",
            "user/app, docker.io/user/app:latest",
            "registry.k8s.io/pause:3.10, registry.k8s.io/pause:3.10",
            "localhost/app, localhost/app:latest",
            "localhost:5000/team/app:v1.2_x, localhost:5000/team/app:v1.2_x",
            "127.0.0.1:5000/app, 127.0.0.1:5000/app:latest",
            "Registry/app, Registry/app:latest",
            "[::1]:5000/app:v1, [::1]:5000/app:v1",
            "quay.io/a/b/c-d__e.f:t, quay.io/a/b/c-d__e.f:t",
    })
    void normalizesLikeDocker(String in, String out) {
        assertEquals(out, ImageReference.parse(in).toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"busybox@", "busybox:1@"})
    void digestForms(String prefix) {
        ImageReference r = ImageReference.parse(prefix + D);
        assertEquals(D, r.digest().toString());
        assertEquals(D, r.manifestReference());
        assertEquals("docker.io/library/busybox", r.name());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "UPPER", "docker.io/UPPER/x", "a:b:c", "busybox:", "busybox@sha256:short", "busybox@md5:" + "ab",
            "app:-bad", "a//b", "/busybox", "abababababababababababababababababababababababababababababababab",
            "busybox:tag with space"})
    void rejectsInvalid(String in) {
        ImageException e = assertThrows(ImageException.class, () -> ImageReference.parse(in));
        assertTrue(e.reason() == ImageException.Reason.INVALID_ARGUMENT, e.reason() + " " + e.getMessage());
        assertTrue(e.getMessage().contains("\"" + in + "\""), e.getMessage());
    }
}
