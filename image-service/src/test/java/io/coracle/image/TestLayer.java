package io.coracle.image;

import com.github.luben.zstd.Zstd;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

/** Builds a layer tar in memory. */
final class TestLayer {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final TarArchiveOutputStream tar = new TarArchiveOutputStream(bytes);

    TestLayer() {
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
    }

    TestLayer dir(String name) {
        return dir(name, 0755);
    }

    TestLayer dir(String name, int mode) {
        TarArchiveEntry e = new TarArchiveEntry(name.endsWith("/") ? name : name + "/");
        e.setMode(TarArchiveEntry.DEFAULT_DIR_MODE & ~0777 | mode);
        return put(e, null);
    }

    TestLayer file(String name, String content) {
        return file(name, content.getBytes(StandardCharsets.UTF_8), 0644, 0, 0);
    }

    TestLayer file(String name, byte[] content, int mode, int uid, int gid) {
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setSize(content.length);
        e.setMode(TarArchiveEntry.DEFAULT_FILE_MODE & ~0777 | mode);
        e.setUserId(uid);
        e.setGroupId(gid);
        return put(e, content);
    }

    TestLayer copy(String name, Path source) {
        try {
            return file(name, Files.readAllBytes(source), 0755, 0, 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An entry whose name is written exactly as given (absolute paths kept). */
    TestLayer raw(String name, String content) {
        byte[] c = content.getBytes(StandardCharsets.UTF_8);
        TarArchiveEntry e = new TarArchiveEntry(name, true);
        e.setSize(c.length);
        return put(e, c);
    }

    TestLayer symlink(String name, String target) {
        TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_SYMLINK);
        e.setLinkName(target);
        return put(e, null);
    }

    TestLayer charDevice(String name, int major, int minor) {
        TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_CHR);
        e.setDevMajor(major);
        e.setDevMinor(minor);
        e.setMode(0020666);
        return put(e, null);
    }

    TestLayer fifo(String name) {
        TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_FIFO);
        e.setMode(0010600);
        return put(e, null);
    }

    TestLayer hardlink(String name, String target) {
        TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_LINK);
        e.setLinkName(target);
        return put(e, null);
    }

    TestLayer xattrFile(String name, String content, String xattr, String value) {
        byte[] c = content.getBytes(StandardCharsets.UTF_8);
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setSize(c.length);
        e.addPaxHeader("SCHILY.xattr." + xattr, value);
        return put(e, c);
    }

    /** A file with an xattr whose value is raw bytes (not UTF-8), in a PAX header written by hand. */
    TestLayer binaryXattrFile(String name, String content, String xattr, byte[] value) {
        byte[] key = (" SCHILY.xattr." + xattr + "=").getBytes(StandardCharsets.UTF_8);
        int len = key.length + value.length + 1;
        len += Integer.toString(len + Integer.toString(len).length()).length();
        ByteArrayOutputStream record = new ByteArrayOutputStream();
        record.writeBytes(Integer.toString(len).getBytes(StandardCharsets.US_ASCII));
        record.writeBytes(key);
        record.writeBytes(value);
        record.write('\n');
        TarArchiveEntry pax = new TarArchiveEntry("PaxHeaders/" + name, TarConstants.LF_PAX_EXTENDED_HEADER_LC);
        pax.setSize(record.size());
        put(pax, record.toByteArray());
        return file(name, content);
    }

    /**
     * Any entry (type {@code TarConstants.LF_*}) set up by {@code setup} (mode with its type bits,
     * owner, mtime, link name, PAX headers), preceded by a hand-written PAX header carrying
     * {@code xattrs} as raw bytes when there are any. The mtime defaults to the fixed one.
     */
    TestLayer entry(String name, byte type, java.util.function.Consumer<TarArchiveEntry> setup, byte[] content,
                    java.util.Map<String, byte[]> xattrs) {
        if (!xattrs.isEmpty()) {
            ByteArrayOutputStream records = new ByteArrayOutputStream();
            for (var x : xattrs.entrySet()) {
                byte[] key = (" SCHILY.xattr." + x.getKey() + "=").getBytes(StandardCharsets.UTF_8);
                int len = key.length + x.getValue().length + 1;
                len += Integer.toString(len + Integer.toString(len).length()).length();
                records.writeBytes(Integer.toString(len).getBytes(StandardCharsets.US_ASCII));
                records.writeBytes(key);
                records.writeBytes(x.getValue());
                records.write('\n');
            }
            TarArchiveEntry pax = new TarArchiveEntry("PaxHeaders/" + name.replace("/", "_"), TarConstants.LF_PAX_EXTENDED_HEADER_LC);
            pax.setSize(records.size());
            write(pax, records.toByteArray());
        }
        TarArchiveEntry e = new TarArchiveEntry(name, type);
        e.setModTime(1_700_000_000_000L);
        setup.accept(e);
        if (content != null) {
            e.setSize(content.length);
        }
        return write(e, content);
    }

    private TestLayer put(TarArchiveEntry e, byte[] content) {
        e.setModTime(1_700_000_000_000L);
        return write(e, content);
    }

    private TestLayer write(TarArchiveEntry e, byte[] content) {
        try {
            tar.putArchiveEntry(e);
            if (content != null) {
                tar.write(content);
            }
            tar.closeArchiveEntry();
            return this;
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
    }

    byte[] tar() {
        try {
            tar.finish();
            tar.close();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] gzip(byte[] raw) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(raw);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    static byte[] zstd(byte[] raw) {
        return Zstd.compress(raw, 3);
    }
}
