package io.coracle.shim;

import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ImageBuilder;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** Base of the shim tests that run containers from one busybox rootfs, built once per test class. */
abstract class BusyboxRootfsTests {
    static Path layerDir;
    static Path lower;

    @BeforeAll
    static void buildImage() throws Exception {
        lower = ImageBuilder.busyboxRootfsInTemp();
        layerDir = lower.getParent();
    }

    @AfterAll
    static void removeImage() throws IOException {
        DaemonProcess.deleteTree(layerDir);
    }
}
