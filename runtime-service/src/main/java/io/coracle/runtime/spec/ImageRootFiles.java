package io.coracle.runtime.spec;

import io.coracle.sys.Syscalls;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reads a file of an image's rootfs as overlayfs shows it (layers top first: whiteouts hide, opaque
 * directories stop the merge), resolving every path component inside the image root: a symlink's
 * absolute target starts again at the image root, ".." stops at it, and no host path is ever reached
 * through a link. Every lookup is an lstat of a name in a directory already checked to be a real
 * directory, and the file is opened with O_NOFOLLOW (the layer snapshots are root-owned and never
 * change). A file over {@link #MAX_BYTES} is refused, not read in part: a truncated /etc/passwd would
 * silently lose users.
 */
public record ImageRootFiles(List<Path> lowerDirs) {
    public static final int MAX_BYTES = 4 << 20;
    /** As the kernel's MAXSYMLINKS. */
    static final int MAX_SYMLINKS = 40;
    private static final int S_IFMT = 0170000;
    private static final int S_IFCHR = 0020000;

    public ImageRootFiles {
        lowerDirs = List.copyOf(lowerDirs);
    }

    /** A directory of the merged view: the real directories of the layers that show it, top first. */
    private record Dir(List<Path> layers) {}

    /** What a name is in the merged view. */
    private sealed interface Entry {}

    private record Absent() implements Entry {}

    private record Directory(Dir dir) implements Entry {}

    private record Symlink(Path at, String target) implements Entry {}

    private record Regular(Path at) implements Entry {}

    private record Other(Path at) implements Entry {}

    /**
     * The file's text; empty when the image has no such file (or a whiteout hides it). Hostile content
     * (a symlink loop, a file over the bound, a path that is not a regular file) is an
     * {@link InvalidContainerConfigException}; a failing read of the snapshot an {@link UncheckedIOException}.
     */
    public Optional<String> read(String absolutePath) throws InvalidContainerConfigException {
        try {
            Optional<Path> file = resolve(absolutePath);
            if (file.isEmpty()) {
                return Optional.empty();
            }
            return Optional.of(readBounded(file.get(), absolutePath));
        } catch (IOException e) {
            throw new UncheckedIOException("read the image's " + absolutePath + ": " + e.getMessage(), e);
        }
    }

    /** The layer file the path names in the merged view, or empty when there is none. */
    private Optional<Path> resolve(String absolutePath) throws IOException, InvalidContainerConfigException {
        return switch (walk(absolutePath, false)) {
            case Regular r -> Optional.of(r.at());
            case Directory d -> throw new InvalidContainerConfigException("the image's " + absolutePath + " is a directory");
            case Other o -> throw new InvalidContainerConfigException("the image's " + absolutePath + " is not a regular file");
            default -> Optional.empty();
        };
    }

    /**
     * The layer directories (top first, down to the first opaque one) that make up the directory
     * {@code subPath} names in the merged view: overlaid read-only, they show that directory as the
     * image shows it. Stricter than a lookup in root, as containerd's {@code os.OpenInRoot}: a ".."
     * above the image root or an absolute symlink is refused, not clamped. A path that does not exist
     * is an {@link java.util.NoSuchElementException}; one that escapes or names no directory an
     * {@link InvalidContainerConfigException}.
     */
    public List<Path> directoryLayers(String subPath) throws InvalidContainerConfigException {
        if (subPath.startsWith("/")) {
            throw new InvalidContainerConfigException("image_sub_path '" + subPath + "' is absolute (it names a"
                    + " directory relative to the image root)");
        }
        try {
            return switch (walk(subPath, true)) {
                case Directory d -> d.dir().layers();
                case Absent a -> throw new java.util.NoSuchElementException("image_sub_path '" + subPath
                        + "' does not exist in the image");
                default -> throw new InvalidContainerConfigException("image_sub_path '" + subPath
                        + "' is not a directory in the image (only directories are mounted)");
            };
        } catch (IOException e) {
            throw new UncheckedIOException("resolve image_sub_path '" + subPath + "': " + e.getMessage(), e);
        }
    }

    /**
     * What the path names in the merged view, every symlink followed inside the image root ({@code
     * strict}: an escape refused). A name below a file names nothing.
     */
    private Entry walk(String path, boolean strict) throws IOException, InvalidContainerConfigException {
        Dir root = merged(lowerDirs);
        Deque<Dir> stack = new ArrayDeque<>();
        stack.push(root);
        Deque<String> todo = new ArrayDeque<>(components(path));
        int links = 0;
        Entry current = new Directory(root);
        while (!todo.isEmpty()) {
            String name = todo.pop();
            if (name.equals(".")) {
                continue;
            }
            if (name.equals("..")) {
                if (stack.size() > 1) {
                    stack.pop();
                } else if (strict) {
                    throw new InvalidContainerConfigException("'" + path + "' escapes the image root ('..')");
                }
                current = new Directory(stack.peek());
                continue;
            }
            Entry e = lookup(stack.peek(), name);
            boolean last = todo.stream().allMatch(n -> n.equals("."));
            switch (e) {
                case Absent a -> {
                    return a;
                }
                case Directory d -> {
                    stack.push(d.dir());
                    current = d;
                }
                case Symlink s -> {
                    if (++links > MAX_SYMLINKS) {
                        throw new InvalidContainerConfigException("the image's " + path
                                + ": more than " + MAX_SYMLINKS + " symbolic links");
                    }
                    if (s.target().isEmpty()) {
                        return new Absent(); // as the kernel: ENOENT
                    }
                    if (s.target().startsWith("/")) {
                        if (strict) {
                            throw new InvalidContainerConfigException("'" + path + "' escapes the image root (an"
                                    + " absolute symbolic link to " + s.target() + ")");
                        }
                        stack.clear();
                        stack.push(root);
                        current = new Directory(root);
                    }
                    List<String> target = components(s.target());
                    for (int i = target.size() - 1; i >= 0; i--) {
                        todo.push(target.get(i));
                    }
                }
                case Regular r -> {
                    // "file/x" names nothing (ENOTDIR).
                    return last ? r : new Absent();
                }
                case Other o -> {
                    return last ? o : new Absent();
                }
            }
        }
        return current;
    }

    private static List<String> components(String path) {
        return Arrays.stream(path.split("/")).filter(c -> !c.isEmpty()).toList();
    }

    /** The merged directory made of {@code candidates} (real directories, top first) down to the first opaque one. */
    private static Dir merged(List<Path> candidates) throws IOException {
        List<Path> layers = new ArrayList<>();
        for (Path p : candidates) {
            layers.add(p);
            if (opaque(p)) {
                break;
            }
        }
        return new Dir(layers);
    }

    /** {@code name} in {@code dir}: the top layer that has it decides; a directory merges with those below it. */
    private static Entry lookup(Dir dir, String name) throws IOException {
        for (int i = 0; i < dir.layers().size(); i++) {
            Path p = dir.layers().get(i).resolve(name);
            Map<String, Object> a = lstat(p);
            if (a == null) {
                continue;
            }
            int type = (Integer) a.get("mode") & S_IFMT;
            if (type == S_IFCHR && ((Long) a.get("rdev")) == 0) {
                return new Absent(); // a whiteout
            }
            if (Boolean.TRUE.equals(a.get("isSymbolicLink"))) {
                return new Symlink(p, Files.readSymbolicLink(p).toString());
            }
            if (Boolean.TRUE.equals(a.get("isRegularFile"))) {
                return new Regular(p);
            }
            if (!Boolean.TRUE.equals(a.get("isDirectory"))) {
                return new Other(p);
            }
            List<Path> below = new ArrayList<>(List.of(p));
            for (Path lower : dir.layers().subList(i + 1, dir.layers().size())) {
                Path q = lower.resolve(name);
                Map<String, Object> b = lstat(q);
                if (b == null) {
                    continue;
                }
                if (!Boolean.TRUE.equals(b.get("isDirectory"))) {
                    break; // a file, link or whiteout there ends the merge
                }
                below.add(q);
            }
            return new Directory(merged(below));
        }
        return new Absent();
    }

    private static Map<String, Object> lstat(Path p) throws IOException {
        try {
            return Files.readAttributes(p, "unix:mode,rdev,isSymbolicLink,isRegularFile,isDirectory",
                    LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private static boolean opaque(Path dir) throws IOException {
        byte[] v = Syscalls.lgetxattr(dir, "trusted.overlay.opaque", 16);
        return v != null && v.length == 1 && v[0] == 'y';
    }

    /** At most {@link #MAX_BYTES}, through an O_NOFOLLOW descriptor. */
    private static String readBounded(Path file, String name) throws IOException, InvalidContainerConfigException {
        try (SeekableByteChannel ch = Files.newByteChannel(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            long size = ch.size();
            if (size > MAX_BYTES) {
                throw tooBig(name, size);
            }
            ByteBuffer buf = ByteBuffer.allocate((int) size + 1); // one more byte: a file that grew shows
            while (buf.hasRemaining() && ch.read(buf) >= 0) {
                // until full or at the end
            }
            if (buf.position() > MAX_BYTES) {
                throw tooBig(name, buf.position());
            }
            return new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
        }
    }

    private static InvalidContainerConfigException tooBig(String name, long size) {
        return new InvalidContainerConfigException("the image's " + name + " is " + size + " bytes, more than the "
                + MAX_BYTES + " read from an image");
    }
}
