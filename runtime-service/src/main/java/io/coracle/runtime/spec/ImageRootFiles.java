package io.coracle.runtime.spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.List;
import java.util.Optional;

/** Reads a file of an image's merged rootfs from its layers (top first), as overlayfs would show it. */
public record ImageRootFiles(List<Path> lowerDirs) {

    /** The file's text, or empty when no layer has it or a whiteout hides it. */
    public Optional<String> read(String absolutePath) {
        String relative = absolutePath.replaceFirst("^/+", "");
        for (Path layer : lowerDirs) {
            Path p = layer.resolve(relative).normalize();
            if (!p.startsWith(layer)) {
                return Optional.empty();
            }
            try {
                if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                if (a.isOther()) {
                    return Optional.empty(); // an overlay whiteout (0/0 char device)
                }
                if (!a.isRegularFile()) {
                    return Optional.empty();
                }
                return Optional.of(Files.readString(p));
            } catch (IOException e) {
                return Optional.empty();
            }
        }
        return Optional.empty();
    }
}
