package io.coracle.oci;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.sys.PrivateFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads and writes spec files (config.json, exec process files) atomically, private (0600): temp, fsync, rename. */
public final class OciJson {
    public static final ObjectMapper MAPPER =
            new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private OciJson() {}

    public static void write(Path file, Object value) throws IOException {
        PrivateFiles.write(file, MAPPER.writeValueAsBytes(value), true);
    }

    /** Writes {@code <bundle>/config.json}. */
    public static void writeConfig(Path bundle, Spec spec) throws IOException {
        write(bundle.resolve("config.json"), spec);
    }

    public static <T> T read(Path file, Class<T> type) throws IOException {
        return MAPPER.readValue(Files.readAllBytes(file), type); // NoSuchFileException when absent
    }
}
