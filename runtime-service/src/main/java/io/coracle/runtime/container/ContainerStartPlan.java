package io.coracle.runtime.container;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import io.coracle.oci.OciJson;
import io.coracle.sys.PrivateFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A created container whose process is not made yet, in {@code <root>/containers/<id>/start-plan.json}:
 * CreateContainer writes the bundle and this file; StartContainer has the shim create the process (as
 * containerd's runc create runs at StartContainer) and deletes it. While it exists the container is
 * CREATED, also after a daemon restart or a node reboot. What the shim's creation needs beyond the
 * record and the bundle is here.
 *
 * @param targetPidns the PID namespace (its /proc link text) of the target container the process must
 *                    join (namespace_options.pid TARGET), or null
 * @param restorePlan the shim's restore plan (a checkpoint restore), or null
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record ContainerStartPlan(String targetPidns, Path restorePlan) {
    static final String FILE = "start-plan.json";
    /** Replaces the plan when the shim's creation failed: the reason, the container is EXITED (StartError). */
    static final String START_ERROR = "start-error";
    /** The exit code of a container whose start failed, as containerd reports it. */
    static final int START_ERROR_EXIT_CODE = 128;
    private static final int MAX_MESSAGE = 4096;

    void write(Path containerDir) throws IOException {
        // Not fsync'd, like the record: a node's crash that loses it leaves the container UNKNOWN (removable),
        // and one whose record is lost too is undone at start-up.
        PrivateFiles.write(containerDir.resolve(FILE), OciJson.MAPPER.writeValueAsBytes(this), false);
    }

    static ContainerStartPlan read(Path containerDir) throws IOException {
        return OciJson.read(containerDir.resolve(FILE), ContainerStartPlan.class);
    }

    static boolean pending(Path containerDir) {
        return Files.exists(containerDir.resolve(FILE));
    }

    /** The plan gives way to the reason its start failed (the error first: the container is never UNKNOWN). */
    static void failed(Path containerDir, String message) throws IOException {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        PrivateFiles.write(containerDir.resolve(START_ERROR), m.length > MAX_MESSAGE
                ? java.util.Arrays.copyOf(m, MAX_MESSAGE) : m, false);
        Files.deleteIfExists(containerDir.resolve(FILE));
    }

    /** Why the container's start failed, if it did (bounded read). */
    static Optional<String> startError(Path containerDir) {
        try (var in = Files.newInputStream(containerDir.resolve(START_ERROR), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return Optional.of(new String(in.readNBytes(MAX_MESSAGE), StandardCharsets.UTF_8));
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
