package io.coracle.image.unpack;

import com.github.luben.zstd.ZstdInputStream;
import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.logging.Logger;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Unpacks one layer tar (gzip, zstd or plain, detected by magic bytes) into an empty directory as
 * an overlayfs layer: {@code .wh.NAME} becomes a 0/0 character device, {@code .wh..wh..opq} the
 * {@code trusted.overlay.opaque=y} xattr on its directory. Any entry that would land outside the
 * directory (".." components, absolute names, escaping links, writes through a symlinked parent)
 * fails the whole layer with HOSTILE_LAYER. The uncompressed stream must hash to the diff ID.
 */
public final class LayerUnpacker {
    private static final Logger LOG = Logger.getLogger(LayerUnpacker.class.getName());
    private static final String WHITEOUT = ".wh.";
    private static final String OPAQUE = ".wh..wh..opq";
    private static final String AUFS_META = ".wh..wh.";
    private static final LinkOption[] NOFOLLOW = {LinkOption.NOFOLLOW_LINKS};

    /** Directory metadata applied after all entries, so writes into read-only dirs and mtimes work. */
    private record DirMeta(Path path, int mode, long mtimeMillis) {
    }

    /** What an unpack produced, for logs and ImageFsInfo. */
    public record Result(long tarBytes, int entries) {
    }

    private LayerUnpacker() {
    }

    /**
     * Unpacks {@code blob} into {@code target} (an existing empty dir) and checks it against {@code diffId}.
     *
     * @param lowerDirs lower layers (top first), asked for only when a hard link names a file of a lower layer
     */
    public static Result unpack(InputStream blob, Path target, Digest diffId, Supplier<List<Path>> lowerDirs, String what) {
        MessageDigest md = Digest.sha256();
        try (InputStream tarStream = decompress(new BufferedInputStream(blob, 1 << 16))) {
            PaxXattrScanner xattrs = new PaxXattrScanner();
            HashingInputStream hashing = new HashingInputStream(tarStream, md, xattrs);
            int entries = new Run(target, lowerDirs, what, xattrs).extract(new TarArchiveInputStream(hashing));
            hashing.drain();
            Digest actual = Digest.of(md);
            if (diffId != null && !actual.equals(diffId)) {
                throw new ImageException(ImageException.Reason.DIGEST_MISMATCH,
                        what + ": uncompressed layer has digest " + actual + ", config says diff ID " + diffId);
            }
            return new Result(hashing.count(), entries);
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.IO, what + ": cannot unpack layer: " + e.getMessage(), e);
        } catch (ImageException e) {
            throw e;
        } catch (RuntimeException e) {
            // commons-compress reports some malformed headers as unchecked exceptions.
            throw new ImageException(ImageException.Reason.HOSTILE_LAYER, what + ": malformed layer tar: " + e, e);
        }
    }

    static InputStream decompress(BufferedInputStream in) throws IOException {
        in.mark(4);
        byte[] magic = in.readNBytes(4);
        in.reset();
        if (magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) {
            return new GZIPInputStream(in, 1 << 16);
        }
        if (magic.length == 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5 && (magic[2] & 0xff) == 0x2f && (magic[3] & 0xff) == 0xfd) {
            return new BufferedInputStream(new ZstdInputStream(in), 1 << 16);
        }
        return in;
    }

    /** State of one extraction. */
    private static final class Run {
        private final Path root;
        private final Supplier<List<Path>> lowerDirs;
        private final String what;
        private final Set<Path> safeDirs = new HashSet<>();
        private final Deque<DirMeta> dirs = new ArrayDeque<>();
        private final byte[] buffer = new byte[1 << 20];
        private final PaxXattrScanner rawXattrs;
        private int index = -1; // of the entry being extracted, in stream order

        Run(Path root, Supplier<List<Path>> lowerDirs, String what, PaxXattrScanner rawXattrs) {
            this.root = root;
            this.lowerDirs = lowerDirs;
            this.what = what;
            this.rawXattrs = rawXattrs;
            safeDirs.add(root);
        }

        int extract(TarArchiveInputStream tar) throws IOException {
            int count = 0;
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                count++;
                index++;
                List<String> parts = components(e.getName());
                if (parts.isEmpty()) {
                    // "./" itself: the layer root's own metadata.
                    if (e.isDirectory()) {
                        dirs.push(new DirMeta(root, e.getMode(), e.getLastModifiedTime().toMillis()));
                    }
                    continue;
                }
                if (parts.stream().anyMatch(c -> c.startsWith(AUFS_META) && !c.equals(OPAQUE))) {
                    // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not content, skipped as containerd does.
                    continue;
                }
                Path parent = ensureParents(parts, e.getName());
                String base = parts.getLast();
                if (base.equals(OPAQUE)) {
                    check(LinuxFiles.lsetxattr(parent, "trusted.overlay.opaque", "y"), "set opaque xattr on " + rel(parent));
                    continue;
                }
                if (base.startsWith(WHITEOUT)) {
                    String hidden = base.substring(WHITEOUT.length());
                    if (hidden.isEmpty() || hidden.equals(".") || hidden.equals("..")) {
                        throw hostile(e.getName(), "invalid whiteout name");
                    }
                    Path p = parent.resolve(hidden);
                    removeExisting(p);
                    check(LinuxFiles.mknod(p, LinuxFiles.S_IFCHR, 0, 0, 0), "create whiteout " + rel(p));
                    continue;
                }
                Path p = parent.resolve(base);
                write(tar, e, p);
            }
            for (DirMeta d : dirs) {
                // Deepest first was pushed last; the deque iterates from the most recent push.
                LinuxFiles.chmod(d.path(), d.mode());
                LinuxFiles.lutimes(d.path(), d.mtimeMillis());
            }
            return count;
        }

        private void write(TarArchiveInputStream tar, TarArchiveEntry e, Path p) throws IOException {
            BasicFileAttributes existing = attrs(p);
            if (e.isDirectory()) {
                if (existing != null && !existing.isDirectory()) {
                    Files.delete(p);
                    existing = null;
                }
                if (existing == null) {
                    Files.createDirectory(p);
                }
                safeDirs.add(p);
                metadata(e, p, false);
                dirs.push(new DirMeta(p, e.getMode(), e.getLastModifiedTime().toMillis()));
                return;
            }
            removeExisting(p);
            if (e.isSymbolicLink()) {
                String target = e.getLinkName();
                if (target.isEmpty()) {
                    throw hostile(e.getName(), "empty symlink target");
                }
                if (!target.startsWith("/") && escapes(root.relativize(p.getParent()), target)) {
                    throw hostile(e.getName(), "symlink target \"" + target + "\" points outside the layer");
                }
                Files.createSymbolicLink(p, Path.of(target));
                metadata(e, p, true);
            } else if (e.isLink()) {
                List<String> linkParts = components(e.getLinkName());
                if (linkParts.isEmpty()) {
                    throw hostile(e.getName(), "hard link to the layer root");
                }
                Path source = resolveExisting(root, linkParts, e.getName());
                if (source == null) {
                    for (Path lower : lowerDirs.get()) {
                        Path candidate = resolveExisting(lower, linkParts, e.getName());
                        if (candidate != null) {
                            // A hard link cannot cross layers: copy the lower file up, as overlayfs would.
                            Files.copy(candidate, p, StandardCopyOption.COPY_ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
                            metadata(e, p, Files.isSymbolicLink(p));
                            return;
                        }
                    }
                    throw hostile(e.getName(), "hard link target \"" + e.getLinkName() + "\" does not exist");
                }
                Files.createLink(p, source);
            } else if (e.isCharacterDevice() || e.isBlockDevice() || e.isFIFO()) {
                // Before isFile(): commons-compress also calls device entries files.
                int type = e.isCharacterDevice() ? LinuxFiles.S_IFCHR : e.isBlockDevice() ? LinuxFiles.S_IFBLK : LinuxFiles.S_IFIFO;
                int err = LinuxFiles.mknod(p, type, e.getMode(), e.getDevMajor(), e.getDevMinor());
                if (err == LinuxFiles.EPERM) {
                    LOG.warning(what + ": not allowed to create device " + e.getName() + ", skipped");
                    return;
                }
                check(err, "mknod " + rel(p));
                metadata(e, p, false);
            } else if (e.isFile()) {
                try (FileChannel out = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    // Large reads from the inflater and large writes: far fewer syscalls than transferTo's 16 KiB.
                    int n;
                    while ((n = tar.read(buffer, 0, buffer.length)) > 0) {
                        ByteBuffer bb = ByteBuffer.wrap(buffer, 0, n);
                        while (bb.hasRemaining()) {
                            out.write(bb);
                        }
                    }
                }
                metadata(e, p, false);
            } else {
                LOG.warning(what + ": unsupported tar entry type '" + (char) e.getLinkFlag() + "' for " + e.getName() + ", skipped");
            }
        }

        private void metadata(TarArchiveEntry e, Path p, boolean symlink) throws IOException {
            LinuxFiles.lchown(p, (int) e.getLongUserId(), (int) e.getLongGroupId());
            if (!symlink) {
                LinuxFiles.chmod(p, e.getMode());
            }
            Map<String, byte[]> raw = rawXattrs.xattrs(index);
            if (raw != null) {
                for (Map.Entry<String, byte[]> x : raw.entrySet()) {
                    setXattr(e, p, x.getKey(), x.getValue());
                }
            } else {
                // The scanner lost the stream: take the reader's (UTF-8 decoded) values, minus broken ones.
                for (Map.Entry<String, String> h : e.getExtraPaxHeaders().entrySet()) {
                    if (!h.getKey().startsWith("SCHILY.xattr.")) {
                        continue;
                    }
                    String name = h.getKey().substring("SCHILY.xattr.".length());
                    if (h.getValue().indexOf('\uFFFD') >= 0) {
                        LOG.warning(what + ": binary xattr " + name + " on " + e.getName() + " skipped");
                        continue;
                    }
                    setXattr(e, p, name, h.getValue().getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!e.isDirectory()) {
                LinuxFiles.lutimes(p, e.getLastModifiedTime().toMillis());
            }
        }

        private void setXattr(TarArchiveEntry e, Path p, String name, byte[] value) {
            int err = LinuxFiles.lsetxattr(p, name, value);
            if (err != 0) {
                LOG.warning(what + ": cannot set xattr " + name + " on " + e.getName() + ": errno " + err);
            }
        }

        /** Creates missing parent dirs (0755) and rejects a parent that is a symlink or not a dir. */
        private Path ensureParents(List<String> parts, String name) throws IOException {
            Path dir = root;
            for (int i = 0; i < parts.size() - 1; i++) {
                dir = dir.resolve(parts.get(i));
                if (safeDirs.contains(dir)) {
                    continue;
                }
                BasicFileAttributes a = attrs(dir);
                if (a == null) {
                    Files.createDirectory(dir);
                } else if (a.isSymbolicLink()) {
                    throw hostile(name, "parent \"" + rel(dir) + "\" is a symlink; writing through it could leave the layer");
                } else if (!a.isDirectory()) {
                    throw hostile(name, "parent \"" + rel(dir) + "\" is not a directory");
                }
                safeDirs.add(dir);
            }
            return dir;
        }

        /** Resolves {@code parts} under {@code base} without following any symlinked parent; null if absent. */
        private Path resolveExisting(Path base, List<String> parts, String name) {
            Path p = base;
            for (int i = 0; i < parts.size(); i++) {
                p = p.resolve(parts.get(i));
                BasicFileAttributes a = attrs(p);
                if (a == null) {
                    return null;
                }
                if (i < parts.size() - 1 && (a.isSymbolicLink() || !a.isDirectory())) {
                    throw hostile(name, "hard link target goes through \"" + base.relativize(p) + "\", which is not a plain directory");
                }
                if (i == parts.size() - 1 && a.isDirectory()) {
                    throw hostile(name, "hard link to a directory");
                }
            }
            return p;
        }

        private void removeExisting(Path p) throws IOException {
            BasicFileAttributes a = attrs(p);
            if (a == null) {
                return;
            }
            if (a.isDirectory()) {
                deleteTree(p);
                safeDirs.removeIf(d -> d.startsWith(p));
            } else {
                Files.delete(p);
            }
        }

        private ImageException hostile(String entry, String why) {
            return new ImageException(ImageException.Reason.HOSTILE_LAYER, what + ": rejected tar entry \"" + entry + "\": " + why);
        }

        private void check(int errno, String action) throws IOException {
            if (errno != 0) {
                throw new IOException(action + ": errno " + errno);
            }
        }

        private String rel(Path p) {
            return root.relativize(p).toString();
        }

        /**
         * Splits an entry name into clean components: "./" prefixes and "." parts dropped; ".." and
         * absolute names rejected.
         */
        private List<String> components(String name) {
            if (name.startsWith("/")) {
                throw hostile(name, "absolute path");
            }
            List<String> out = new ArrayList<>();
            for (String c : name.split("/")) {
                if (c.isEmpty() || c.equals(".")) {
                    continue;
                }
                if (c.equals("..")) {
                    throw hostile(name, "\"..\" component");
                }
                if (c.indexOf('\0') >= 0) {
                    throw hostile(name, "NUL in name");
                }
                out.add(c);
            }
            return out;
        }
    }

    /** True if a relative symlink {@code target} in {@code dir} (relative to the layer root) climbs above the root. */
    static boolean escapes(Path dir, String target) {
        int depth = dir.toString().isEmpty() ? 0 : dir.getNameCount();
        for (String c : target.split("/")) {
            if (c.isEmpty() || c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                if (--depth < 0) {
                    return true;
                }
            } else {
                depth++;
            }
        }
        return false;
    }

    /** Flushes the filesystem holding {@code p}, so a committed snapshot survives a power loss. */
    public static void syncfs(Path p) throws IOException {
        LinuxFiles.syncfs(p);
    }

    static BasicFileAttributes attrs(Path p) {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, NOFOLLOW);
        } catch (IOException e) {
            return null;
        }
    }

    /** Deletes a tree without following symlinks. */
    public static void deleteTree(Path p) throws IOException {
        BasicFileAttributes a = attrs(p);
        if (a == null) {
            return;
        }
        if (a.isDirectory()) {
            try (var s = Files.newDirectoryStream(p)) {
                for (Path c : s) {
                    deleteTree(c);
                }
            }
        }
        try {
            Files.delete(p);
        } catch (DirectoryNotEmptyException | FileAlreadyExistsException e) {
            throw new IOException("cannot delete " + p + ": " + e, e);
        }
    }
}
