package io.coracle.runtime.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Writes a ustar archive in memory: enough for test image layers (short names, files, dirs, symlinks). */
public final class TarWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public TarWriter dir(String name, int mode) {
        return entry(name.endsWith("/") ? name : name + "/", '5', mode, new byte[0], "");
    }

    public TarWriter file(String name, int mode, byte[] content) {
        return entry(name, '0', mode, content, "");
    }

    /** A hard link to an entry written before (busybox images link their applets this way). */
    public TarWriter hardlink(String name, String target) {
        return entry(name, '1', 0755, new byte[0], target);
    }

    public TarWriter symlink(String name, String target) {
        return entry(name, '2', 0777, new byte[0], target);
    }

    private TarWriter entry(String name, char type, int mode, byte[] content, String link) {
        byte[] h = new byte[512];
        put(h, 0, 100, name);
        put(h, 100, 8, octal(mode, 7));
        put(h, 108, 8, octal(0, 7));
        put(h, 116, 8, octal(0, 7));
        put(h, 124, 12, octal(content.length, 11));
        put(h, 136, 12, octal(1_700_000_000L, 11));
        for (int i = 148; i < 156; i++) {
            h[i] = ' ';
        }
        h[156] = (byte) type;
        put(h, 157, 100, link);
        put(h, 257, 6, "ustar");
        put(h, 263, 2, "00");
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        put(h, 148, 7, octal(sum, 6));
        out.writeBytes(h);
        out.writeBytes(content);
        int pad = (512 - content.length % 512) % 512;
        out.writeBytes(new byte[pad]);
        return this;
    }

    public byte[] finish() {
        out.writeBytes(new byte[1024]);
        return out.toByteArray();
    }

    private static String octal(long v, int width) {
        return String.format("%0" + width + "o", v);
    }

    private static void put(byte[] h, int off, int len, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        if (b.length > len) {
            throw new IllegalArgumentException("tar field too long: " + s);
        }
        System.arraycopy(b, 0, h, off, b.length);
    }
}
