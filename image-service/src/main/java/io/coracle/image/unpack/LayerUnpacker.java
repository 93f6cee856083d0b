package io.coracle.image.unpack;

import com.github.luben.zstd.ZstdInputStream;
import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import io.coracle.sys.AtFiles;
import io.coracle.sys.AtFiles.ErrnoException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Supplier;
import java.util.logging.Logger;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Unpacks one layer tar (gzip, zstd or plain, detected by magic bytes) into an empty directory as
 * an overlayfs layer: {@code .wh.NAME} becomes a 0/0 character device, {@code .wh..wh..opq} the
 * {@code trusted.overlay.opaque=y} xattr on its directory. The uncompressed stream must hash to the
 * diff ID.
 *
 * <p>Confined by construction: every object is created and every piece of metadata set through a
 * descriptor ({@link AtFiles}) reached from the layer's root descriptor without following any
 * symlink, so a layer cannot touch anything outside its directory whatever it holds. An entry below
 * a symlink or a non-directory, with ".." components, an absolute or NUL-bearing name, or a hard link
 * to a directory or through a symlink fails the whole layer with HOSTILE_LAYER. Symlinks are data:
 * stored verbatim wherever they point, never followed here. Directory mode and times are applied at
 * the end, only to the very directory (same inode) they were recorded for, and dropped when that
 * path is removed or replaced. Only image xattrs are applied ({@code security.capability},
 * {@code user.*}, POSIX ACLs); {@code trusted.*} (overlayfs' own) and others never come from a layer.
 */
public final class LayerUnpacker {
    private static final Logger LOG = Logger.getLogger(LayerUnpacker.class.getName());
    private static final String WHITEOUT = ".wh.";
    private static final String OPAQUE = ".wh..wh..opq";
    private static final String AUFS_META = ".wh..wh.";
    private static final int DIR = AtFiles.O_RDONLY | AtFiles.O_DIRECTORY;

    /** Directory metadata applied after all entries, so writes into read-only dirs and mtimes work. */
    private record DirMeta(int mode, long seconds, int nanos, AtFiles.Stat identity) {
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
        try (InputStream tarStream = decompress(new BufferedInputStream(blob, 1 << 16));
             Run run = new Run(target, lowerDirs, what)) {
            HashingInputStream hashing = new HashingInputStream(tarStream, md, run.rawXattrs);
            int entries = run.extract(new TarArchiveInputStream(hashing));
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

    /** Whether an xattr belongs in an image; everything else in a layer is dropped. */
    static boolean imageXattr(String name) {
        return name.startsWith("user.") || name.equals("security.capability")
                || name.equals("system.posix_acl_access") || name.equals("system.posix_acl_default");
    }

    /** State of one extraction: the layer root's descriptor and the directory descriptor last used. */
    private static final class Run implements AutoCloseable {
        private final int rootFd;
        private final Supplier<List<Path>> lowerDirs;
        private final String what;
        final PaxXattrScanner rawXattrs;
        /**
         * Deferred directory metadata by path relative to the root ("" is the root), sorted, so that a
         * path and everything below it ("p", then the range "p/".."p0") go in one range removal.
         */
        private final TreeMap<String, DirMeta> dirs = new TreeMap<>();
        private final TreeSet<String> droppedXattrs = new TreeSet<>();
        private final byte[] buffer = new byte[1 << 20];
        private int index = -1; // of the entry being extracted, in stream order
        /** The directory entries went into last (most entries of a tar share their parent with the one before). */
        private String cachedRel;
        private int cachedFd = -1;

        Run(Path root, Supplier<List<Path>> lowerDirs, String what) throws IOException {
            this.rootFd = AtFiles.openDirectory(root, AtFiles.O_RDONLY);
            this.lowerDirs = lowerDirs;
            this.what = what;
            this.rawXattrs = new PaxXattrScanner(what);
        }

        @Override
        public void close() {
            uncache();
            AtFiles.close(rootFd);
        }

        int extract(TarArchiveInputStream tar) throws IOException {
            int count = 0;
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                count++;
                index++;
                List<String> parts = components(e.getName());
                if (parts.isEmpty()) {
                    // "./" itself: the layer root's own mode and times.
                    if (e.isDirectory()) {
                        Instant t = e.getLastModifiedTime().toInstant();
                        dirs.put("", new DirMeta(e.getMode(), t.getEpochSecond(), t.getNano(), AtFiles.stat(rootFd, "")));
                    }
                    continue;
                }
                if (parts.stream().anyMatch(c -> c.startsWith(AUFS_META) && !c.equals(OPAQUE))) {
                    // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not content, skipped as containerd does.
                    continue;
                }
                String parentRel = String.join("/", parts.subList(0, parts.size() - 1));
                int parent = parent(parentRel, parts, e.getName());
                String base = parts.getLast();
                if (base.equals(OPAQUE)) {
                    AtFiles.fsetxattr(parent, "trusted.overlay.opaque", new byte[] {'y'}, rel(parentRel, "."));
                    continue;
                }
                if (base.startsWith(WHITEOUT)) {
                    String hidden = base.substring(WHITEOUT.length());
                    if (hidden.isEmpty() || hidden.equals(".") || hidden.equals("..")) {
                        throw hostile(e.getName(), "invalid whiteout name");
                    }
                    remove(parent, rel(parentRel, hidden), hidden);
                    AtFiles.mknod(parent, hidden, AtFiles.S_IFCHR, 0, 0);
                    continue;
                }
                write(tar, e, parent, parentRel, base, parts);
            }
            applyDirectoryMetadata();
            if (!droppedXattrs.isEmpty()) {
                LOG.info(what + ": xattrs not applied (not image xattrs): " + String.join(", ", droppedXattrs));
            }
            return count;
        }

        private void write(TarArchiveInputStream tar, TarArchiveEntry e, int parent, String parentRel, String base,
                           List<String> parts) throws IOException {
            String rel = rel(parentRel, base);
            int uid = id(e.getLongUserId(), e, "uid");
            int gid = id(e.getLongGroupId(), e, "gid");
            if (e.isDirectory()) {
                int fd = openOrCreateDirectory(parent, rel, base);
                try {
                    AtFiles.fchown(fd, uid, gid, rel);
                    xattrs(e, rel, x -> AtFiles.fsetxattr(fd, x.getKey(), x.getValue(), rel));
                    Instant t = e.getLastModifiedTime().toInstant();
                    dirs.put(rel, new DirMeta(e.getMode(), t.getEpochSecond(), t.getNano(), AtFiles.stat(fd, "")));
                } catch (IOException | RuntimeException ex) {
                    AtFiles.close(fd);
                    throw ex;
                }
                // Its entries most likely come next.
                cache(rel, fd);
                return;
            }
            if (e.isSymbolicLink()) {
                String target = e.getLinkName();
                if (target.isEmpty() || target.indexOf('\0') >= 0) {
                    throw hostile(e.getName(), "empty symlink target or NUL in it");
                }
                // Stored verbatim wherever it points: nothing here ever follows it.
                createReplacing(parent, rel, base, () -> AtFiles.symlink(target, parent, base));
                symlinkMetadata(e, parent, base, uid, gid);
            } else if (e.isLink()) {
                hardLink(e, parent, rel, base, parts, uid, gid);
            } else if (e.isCharacterDevice() || e.isBlockDevice() || e.isFIFO()) {
                // Before isFile(): commons-compress also calls device entries files.
                int type = e.isCharacterDevice() ? AtFiles.S_IFCHR : e.isBlockDevice() ? AtFiles.S_IFBLK : AtFiles.S_IFIFO;
                try {
                    createReplacing(parent, rel, base,
                            () -> AtFiles.mknod(parent, base, type | (e.getMode() & 0777), e.getDevMajor(), e.getDevMinor()));
                } catch (ErrnoException ex) {
                    if (ex.errno() != AtFiles.EPERM) {
                        throw ex;
                    }
                    LOG.warning(what + ": not allowed to create device " + e.getName() + ", skipped");
                    return;
                }
                specialMetadata(e, parent, base, type, uid, gid);
            } else if (e.isFile()) {
                int fd = createFile(parent, rel, base);
                try {
                    // Large reads from the inflater and large writes: few syscalls per file.
                    int n;
                    while ((n = tar.read(buffer, 0, buffer.length)) > 0) {
                        AtFiles.writeFully(fd, buffer, n, rel);
                    }
                    fileMetadata(e, fd, rel, uid, gid);
                } finally {
                    AtFiles.close(fd);
                }
            } else {
                LOG.warning(what + ": unsupported tar entry type '" + (char) e.getLinkFlag() + "' for " + e.getName() + ", skipped");
            }
        }

        /** Owner, then mode (a chown clears setuid bits), then xattrs (it clears capabilities too), then times. */
        private void fileMetadata(TarArchiveEntry e, int fd, String rel, int uid, int gid) throws IOException {
            AtFiles.fchown(fd, uid, gid, rel);
            AtFiles.fchmod(fd, e.getMode(), rel);
            xattrs(e, rel, x -> AtFiles.fsetxattr(fd, x.getKey(), x.getValue(), rel));
            Instant t = e.getLastModifiedTime().toInstant();
            AtFiles.futimes(fd, t.getEpochSecond(), t.getNano(), rel);
        }

        /** A symlink's owner and times, on the link itself; symlinks have no mode, and no image xattrs. */
        private void symlinkMetadata(TarArchiveEntry e, int parent, String base, int uid, int gid) throws IOException {
            AtFiles.chown(parent, base, uid, gid);
            Instant t = e.getLastModifiedTime().toInstant();
            AtFiles.utimes(parent, base, t.getEpochSecond(), t.getNano());
        }

        /** Device nodes and FIFOs are never opened for I/O: mode and xattrs go through an O_PATH descriptor. */
        private void specialMetadata(TarArchiveEntry e, int parent, String base, int type, int uid, int gid) throws IOException {
            AtFiles.chown(parent, base, uid, gid);
            int fd = AtFiles.open(parent, base, AtFiles.O_PATH, 0);
            try {
                if (AtFiles.stat(fd, "").type() != type) {
                    throw new IOException("mknod " + base + " made no " + Integer.toOctalString(type));
                }
                AtFiles.chmodPathFd(fd, e.getMode(), base);
                xattrs(e, base, x -> AtFiles.setxattrPathFd(fd, x.getKey(), x.getValue(), base));
            } finally {
                AtFiles.close(fd);
            }
            Instant t = e.getLastModifiedTime().toInstant();
            AtFiles.utimes(parent, base, t.getEpochSecond(), t.getNano());
        }

        private interface XattrSetter {
            void set(Map.Entry<String, byte[]> x) throws IOException;
        }

        /** Applies the entry's image xattrs (raw bytes from the PAX header); a refused one is logged, not fatal. */
        private void xattrs(TarArchiveEntry e, String rel, XattrSetter setter) {
            Map<String, byte[]> raw = rawXattrs.xattrs(index);
            if (raw == null) {
                // The scanner lost the stream: take the reader's (UTF-8 decoded) values, minus broken ones.
                raw = new LinkedHashMap<>();
                for (Map.Entry<String, String> h : e.getExtraPaxHeaders().entrySet()) {
                    if (!h.getKey().startsWith("SCHILY.xattr.")) {
                        continue;
                    }
                    String name = h.getKey().substring("SCHILY.xattr.".length());
                    if (h.getValue().indexOf('\uFFFD') >= 0) {
                        LOG.warning(what + ": binary xattr " + name + " on " + e.getName() + " skipped");
                        continue;
                    }
                    raw.put(name, h.getValue().getBytes(StandardCharsets.UTF_8));
                }
            }
            for (Map.Entry<String, byte[]> x : raw.entrySet()) {
                if (!imageXattr(x.getKey()) || x.getKey().indexOf('\0') >= 0) {
                    if (droppedXattrs.size() < 16) { // names for the log line, bounded
                        droppedXattrs.add(x.getKey().replace('\0', '?'));
                    }
                    continue;
                }
                try {
                    setter.set(x);
                } catch (IOException ex) {
                    LOG.warning(what + ": cannot set xattr on " + rel + ": " + ex.getMessage());
                }
            }
        }

        private void hardLink(TarArchiveEntry e, int parent, String rel, String base, List<String> parts, int uid, int gid)
                throws IOException {
            List<String> linkParts = components(e.getLinkName());
            if (linkParts.isEmpty()) {
                throw hostile(e.getName(), "hard link to the layer root");
            }
            if (linkParts.equals(parts)) {
                return; // a link to itself: nothing to do
            }
            String srcParentRel = String.join("/", linkParts.subList(0, linkParts.size() - 1));
            String srcName = linkParts.getLast();
            int srcParent = openSourceParent(rootFd, srcParentRel, e.getName());
            if (srcParent >= 0) {
                try {
                    AtFiles.Stat st = statOrNull(srcParent, srcName);
                    if (st != null) {
                        if (st.isDirectory()) {
                            throw hostile(e.getName(), "hard link to a directory");
                        }
                        createReplacing(parent, rel, base, () -> AtFiles.link(srcParent, srcName, parent, base));
                        return;
                    }
                } finally {
                    AtFiles.close(srcParent);
                }
            }
            // A hard link cannot cross layers: copy the lower file up, as overlayfs would.
            for (Path lower : lowerDirs.get()) {
                int lowerRoot = AtFiles.openDirectory(lower, AtFiles.O_PATH);
                try {
                    int lp = openSourceParent(lowerRoot, srcParentRel, e.getName());
                    if (lp < 0) {
                        continue;
                    }
                    try {
                        AtFiles.Stat st = statOrNull(lp, srcName);
                        if (st == null) {
                            continue;
                        }
                        if (st.type() == AtFiles.S_IFCHR && st.rdevMajor() == 0 && st.rdevMinor() == 0) {
                            break; // whited out in that layer: absent below it too
                        }
                        copyUp(e, st, lp, srcName, parent, rel, base, uid, gid);
                        return;
                    } finally {
                        AtFiles.close(lp);
                    }
                } finally {
                    AtFiles.close(lowerRoot);
                }
            }
            throw hostile(e.getName(), "hard link target \"" + e.getLinkName() + "\" does not exist");
        }

        /** The directory holding a hard link's source, or -1 when absent; through a symlink or a non-directory is hostile. */
        private int openSourceParent(int base, String parentRel, String name) throws IOException {
            try {
                return AtFiles.openBeneath(base, parentRel.isEmpty() ? "." : parentRel, AtFiles.O_PATH | AtFiles.O_DIRECTORY);
            } catch (ErrnoException ex) {
                if (ex.errno() == AtFiles.ENOENT) {
                    return -1;
                }
                if (ex.errno() == AtFiles.ELOOP || ex.errno() == AtFiles.ENOTDIR) {
                    throw hostile(name, "hard link target goes through \"" + parentRel + "\", which is not a plain directory");
                }
                throw ex;
            }
        }

        private void copyUp(TarArchiveEntry e, AtFiles.Stat st, int srcParent, String srcName, int parent, String rel,
                            String base, int uid, int gid) throws IOException {
            if (st.isDirectory()) {
                throw hostile(e.getName(), "hard link to a directory");
            }
            if (st.isSymlink()) {
                String target = AtFiles.readlink(srcParent, srcName);
                createReplacing(parent, rel, base, () -> AtFiles.symlink(target, parent, base));
                symlinkMetadata(e, parent, base, uid, gid);
            } else if (st.isRegular()) {
                int in = AtFiles.open(srcParent, srcName, AtFiles.O_RDONLY, 0);
                try {
                    int out = createFile(parent, rel, base);
                    try {
                        int n;
                        while ((n = AtFiles.read(in, buffer, buffer.length, srcName)) > 0) {
                            AtFiles.writeFully(out, buffer, n, rel);
                        }
                        fileMetadata(e, out, rel, uid, gid);
                    } finally {
                        AtFiles.close(out);
                    }
                } finally {
                    AtFiles.close(in);
                }
            } else {
                createReplacing(parent, rel, base, () -> AtFiles.mknod(parent, base, st.mode(), st.rdevMajor(), st.rdevMinor()));
                specialMetadata(e, parent, base, st.type(), uid, gid);
            }
        }

        /**
         * The descriptor of directory {@code rel} (parents created 0755 as needed): reached from the
         * root without following any symlink; a symlink or a non-directory on the way is hostile.
         */
        private int parent(String rel, List<String> parts, String name) throws IOException {
            if (rel.equals(cachedRel)) {
                return cachedFd;
            }
            if (rel.isEmpty()) {
                cache("", rootFd);
                return rootFd;
            }
            int fd;
            try {
                fd = AtFiles.openBeneath(rootFd, rel, DIR);
            } catch (ErrnoException ex) {
                if (ex.errno() != AtFiles.ENOENT) {
                    throw parentRefused(ex, rel, name);
                }
                fd = createParents(parts, name);
            }
            cache(rel, fd);
            return fd;
        }

        private int createParents(List<String> parts, String name) throws IOException {
            int fd = rootFd;
            String rel = "";
            try {
                for (int i = 0; i < parts.size() - 1; i++) {
                    String c = parts.get(i);
                    rel = rel(rel, c);
                    int next;
                    try {
                        next = AtFiles.openBeneath(fd, c, DIR);
                    } catch (ErrnoException ex) {
                        if (ex.errno() != AtFiles.ENOENT) {
                            throw parentRefused(ex, rel, name);
                        }
                        AtFiles.mkdir(fd, c, 0755);
                        next = AtFiles.openBeneath(fd, c, DIR);
                    }
                    if (fd != rootFd) {
                        AtFiles.close(fd);
                    }
                    fd = next;
                }
                return fd;
            } catch (IOException | RuntimeException ex) {
                if (fd != rootFd) {
                    AtFiles.close(fd);
                }
                throw ex;
            }
        }

        private IOException parentRefused(ErrnoException ex, String rel, String name) {
            if (ex.errno() == AtFiles.ELOOP) {
                throw hostile(name, "parent \"" + rel + "\" is or goes through a symlink; writing through it could leave the layer");
            }
            if (ex.errno() == AtFiles.ENOTDIR) {
                throw hostile(name, "parent \"" + rel + "\" is not a directory");
            }
            return ex;
        }

        /** An existing directory is kept (re-declared); anything else with that name is replaced. */
        private int openOrCreateDirectory(int parent, String rel, String base) throws IOException {
            try {
                AtFiles.mkdir(parent, base, 0755);
            } catch (ErrnoException ex) {
                if (ex.errno() != AtFiles.EEXIST) {
                    throw ex;
                }
            }
            try {
                return AtFiles.open(parent, base, DIR, 0);
            } catch (ErrnoException ex) {
                if (ex.errno() != AtFiles.ELOOP && ex.errno() != AtFiles.ENOTDIR) {
                    throw ex;
                }
                remove(parent, rel, base);
                AtFiles.mkdir(parent, base, 0755);
                return AtFiles.open(parent, base, DIR, 0);
            }
        }

        private int createFile(int parent, String rel, String base) throws IOException {
            int[] fd = {-1};
            createReplacing(parent, rel, base, () -> fd[0] = AtFiles.createFile(parent, base, 0600));
            return fd[0];
        }

        private interface Create {
            void run() throws IOException;
        }

        /** Creates {@code base}; when the name is taken, removes what holds it (a tree, for a directory) and creates again. */
        private void createReplacing(int parent, String rel, String base, Create create) throws IOException {
            try {
                create.run();
            } catch (ErrnoException ex) {
                if (ex.errno() != AtFiles.EEXIST) {
                    throw ex;
                }
                remove(parent, rel, base);
                create.run();
            }
        }

        /** Removes {@code base} (recursively, never following a symlink); forgets what was recorded below it. */
        private void remove(int parent, String rel, String base) throws IOException {
            if (AtFiles.removeTree(parent, base) == 2) {
                dirs.remove(rel);
                dirs.subMap(rel + "/", rel + "0").clear(); // '0' follows '/': exactly the paths below rel
                if (cachedRel != null && under(cachedRel, rel)) {
                    uncache();
                }
            }
        }

        /** Applies deferred directory modes and times, children before parents, to the same inodes only. */
        private void applyDirectoryMetadata() throws IOException {
            uncache();
            for (Map.Entry<String, DirMeta> d : dirs.descendingMap().entrySet()) {
                String rel = d.getKey();
                DirMeta m = d.getValue();
                int fd;
                try {
                    fd = AtFiles.openBeneath(rootFd, rel.isEmpty() ? "." : rel, DIR);
                } catch (ErrnoException ex) {
                    LOG.warning(what + ": directory " + rel + " changed after its entry, its metadata skipped: " + ex.getMessage());
                    continue;
                }
                try {
                    AtFiles.Stat now = AtFiles.stat(fd, "");
                    if (!now.isDirectory() || !now.sameObject(m.identity())) {
                        LOG.warning(what + ": directory " + rel + " was replaced after its entry, its metadata skipped");
                        continue;
                    }
                    AtFiles.fchmod(fd, m.mode(), rel);
                    AtFiles.futimes(fd, m.seconds(), m.nanos(), rel);
                } finally {
                    AtFiles.close(fd);
                }
            }
        }

        private static AtFiles.Stat statOrNull(int dirfd, String name) throws ErrnoException {
            try {
                return AtFiles.stat(dirfd, name);
            } catch (ErrnoException ex) {
                if (ex.errno() == AtFiles.ENOENT) {
                    return null;
                }
                throw ex;
            }
        }

        private void cache(String rel, int fd) {
            if (cachedFd != fd) {
                uncache();
            }
            cachedRel = rel;
            cachedFd = fd;
        }

        private void uncache() {
            if (cachedFd >= 0 && cachedFd != rootFd) {
                AtFiles.close(cachedFd);
            }
            cachedFd = -1;
            cachedRel = null;
        }

        /** uids and gids: 0..2^31-1. */
        private int id(long v, TarArchiveEntry e, String which) {
            if (v < 0 || v > Integer.MAX_VALUE) {
                throw hostile(e.getName(), which + " " + v + " out of range");
            }
            return (int) v;
        }

        private ImageException hostile(String entry, String why) {
            return new ImageException(ImageException.Reason.HOSTILE_LAYER, what + ": rejected tar entry \"" + entry + "\": " + why);
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

    private static String rel(String dir, String name) {
        return dir.isEmpty() ? name : dir + "/" + name;
    }

    /** Whether {@code path} is {@code dir} or below it (both relative to the layer root). */
    private static boolean under(String path, String dir) {
        return path.equals(dir) || path.startsWith(dir + "/");
    }

    /** Flushes the filesystem holding {@code p}, so a committed snapshot survives a power loss. */
    public static void syncfs(Path p) throws IOException {
        AtFiles.syncfs(p);
    }

    /** Deletes a tree without following symlinks. */
    public static void deleteTree(Path p) throws IOException {
        AtFiles.deleteTree(p);
    }
}
