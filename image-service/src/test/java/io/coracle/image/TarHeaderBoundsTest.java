package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.image.unpack.LayerUnpacker;
import io.coracle.sys.Syscalls;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Special tar headers (PAX, GNU long names) are buffered whole by the tar reader: a layer whose header
 * is over 1 MiB is refused before that happens, and old-GNU sparse entries with extension headers do
 * not make the raw xattr reader lose its place. The tars are written byte by byte here.
 */
class TarHeaderBoundsTest {
    @TempDir
    Path root;

    @Test
    void oversizedPaxAndLongNameHeadersAreRefused() {
        for (char type : new char[] {'x', 'g', 'L', 'K'}) {
            byte[] body = record("comment", "a".repeat((2 << 20)));
            Tar tar = new Tar();
            tar.header(type == 'L' || type == 'K' ? "././@LongLink" : "pax", type, body.length, 0);
            tar.data(body).file("f", "hello".getBytes(StandardCharsets.US_ASCII));
            ImageException e = assertThrows(ImageException.class, () -> unpack(tar), "type " + type);
            assertEquals(ImageException.Reason.HOSTILE_LAYER, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains("'" + type + "' header of " + body.length + " bytes"), e.getMessage());
        }
    }

    @Test
    void aPaxHeaderJustUnderTheBoundIsRead() throws Exception {
        byte[] body = record("comment", "a".repeat((1 << 20) - 40));
        assertTrue(body.length <= 1 << 20);
        Tar tar = new Tar();
        tar.header("pax", 'x', body.length, 0);
        unpack(tar.data(body).file("f", "ok".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("ok", Files.readString(root.resolve("f")));
    }

    @Test
    void anUnreadableSizeFieldIsRefused() {
        Tar tar = new Tar().file("f", "x".getBytes(StandardCharsets.US_ASCII));
        System.arraycopy("99z9".getBytes(StandardCharsets.US_ASCII), 0, tar.bytes(), 124, 4);
        tar.checksum(0);
        ImageException e = assertThrows(ImageException.class, () -> unpack(tar));
        assertEquals(ImageException.Reason.HOSTILE_LAYER, e.reason(), e.getMessage());
    }

    @Test
    void binaryXattrsAfterAnOldGnuSparseEntryWithExtensionsLandOnTheirOwnFile() throws Exception {
        byte[] value = {(byte) 0xff, (byte) 0xfe, 0, 7};
        Tar tar = new Tar();
        // 'S' with one sparse chunk in the header, one in an extension block, 1024 stored bytes.
        int at = tar.header("sparse", 'S', 1024, 0);
        tar.octal(at + 386, 12, 0).octal(at + 398, 12, 512);
        tar.bytes()[at + 482] = 1;
        tar.octal(at + 483, 12, 4608);
        tar.checksum(at);
        byte[] ext = new byte[512];
        putOctal(ext, 0, 12, 4096);
        putOctal(ext, 12, 12, 512);
        tar.data(ext);
        byte[] data = new byte[1024];
        Arrays.fill(data, (byte) 's');
        tar.data(data);
        byte[] pax = record("SCHILY.xattr.user.bin", new String(value, StandardCharsets.ISO_8859_1), StandardCharsets.ISO_8859_1);
        tar.header("pax", 'x', pax.length, 0);
        tar.data(pax).file("after", "z".getBytes(StandardCharsets.US_ASCII));
        unpack(tar);
        assertEquals(4608, Files.size(root.resolve("sparse")));
        assertArrayEquals(value, Syscalls.lgetxattr(root.resolve("after"), "user.bin", 64));
    }

    void unpack(Tar tar) {
        LayerUnpacker.unpack(new ByteArrayInputStream(tar.finish()), root, null, List::of, "test layer");
    }

    static byte[] record(String key, String value) {
        return record(key, value, StandardCharsets.UTF_8);
    }

    /** One PAX record, "LEN key=value\n", LEN counting itself. */
    static byte[] record(String key, String value, java.nio.charset.Charset cs) {
        byte[] kv = (" " + key + "=").getBytes(StandardCharsets.UTF_8);
        byte[] v = value.getBytes(cs);
        int body = kv.length + v.length + 1;
        int len = body + Integer.toString(body).length();
        if (Integer.toString(len).length() != Integer.toString(body).length()) {
            len++;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(Integer.toString(len).getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(kv);
        out.writeBytes(v);
        out.write('\n');
        return out.toByteArray();
    }

    static void putOctal(byte[] b, int off, int len, long v) {
        String s = String.format("%0" + (len - 1) + "o", v);
        System.arraycopy(s.getBytes(StandardCharsets.US_ASCII), 0, b, off, len - 1);
        b[off + len - 1] = 0;
    }

    /** A tar written block by block: GNU headers ("ustar  \0"), data padded to 512. */
    static final class Tar {
        private byte[] buf = new byte[0];

        byte[] bytes() {
            return buf;
        }

        /** Appends a header; returns its offset. */
        int header(String name, char type, long size, int mode) {
            int at = grow(512);
            System.arraycopy(name.getBytes(StandardCharsets.US_ASCII), 0, buf, at, name.length());
            putOctal(buf, at + 100, 8, mode == 0 ? 0644 : mode);
            putOctal(buf, at + 108, 8, 0);
            putOctal(buf, at + 116, 8, 0);
            putOctal(buf, at + 124, 12, size);
            putOctal(buf, at + 136, 12, 1_500_000_000L);
            buf[at + 156] = (byte) type;
            System.arraycopy("ustar  \0".getBytes(StandardCharsets.US_ASCII), 0, buf, at + 257, 8);
            checksum(at);
            return at;
        }

        Tar octal(int off, int len, long v) {
            putOctal(buf, off, len, v);
            return this;
        }

        void checksum(int at) {
            Arrays.fill(buf, at + 148, at + 156, (byte) ' ');
            long sum = 0;
            for (int i = at; i < at + 512; i++) {
                sum += buf[i] & 0xff;
            }
            String s = String.format("%06o", sum);
            System.arraycopy(s.getBytes(StandardCharsets.US_ASCII), 0, buf, at + 148, 6);
            buf[at + 154] = 0;
            buf[at + 155] = ' ';
        }

        Tar data(byte[] d) {
            int at = grow((d.length + 511) / 512 * 512);
            System.arraycopy(d, 0, buf, at, d.length);
            return this;
        }

        Tar file(String name, byte[] content) {
            header(name, '0', content.length, 0);
            return data(content);
        }

        byte[] finish() {
            return Arrays.copyOf(buf, buf.length + 1024);
        }

        private int grow(int n) {
            int at = buf.length;
            buf = Arrays.copyOf(buf, at + n);
            return at;
        }
    }
}
