package io.coracle.image;

import io.coracle.image.store.ImageRecord;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/** {@code coracle images import FILE}: loads an OCI layout or docker save archive into the image store. */
public final class ImageImportCommand {
    private ImageImportCommand() {
    }

    /** Imports {@code archive} and prints one line per image; returns the process exit code. */
    public static int run(ImageService images, Path archive, PrintStream out, PrintStream err) {
        try {
            List<ImageRecord> imported = images.importArchive(archive);
            for (ImageRecord r : imported) {
                out.println("imported " + r.id() + " " + String.join(" ", r.repoTags()));
            }
            return 0;
        } catch (ImageException e) {
            err.println("coracle images import: " + e.getMessage());
            return 1;
        }
    }

    /** Standalone use while the daemon is stopped: {@code ImageImportCommand ROOT FILE}. */
    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: ImageImportCommand ROOT_DIR ARCHIVE");
            System.exit(2);
        }
        try (ImageService images = new ImageService(ImageServiceConfig.defaults(Path.of(args[0])))) {
            System.exit(run(images, Path.of(args[1]), System.out, System.err));
        }
    }
}
