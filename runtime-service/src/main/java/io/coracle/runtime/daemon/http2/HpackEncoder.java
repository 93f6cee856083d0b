package io.coracle.runtime.daemon.http2;

import java.io.ByteArrayOutputStream;
import java.util.List;

/**
 * Encodes header lists (RFC 7541) without a dynamic table and without Huffman coding: a field equal to a static
 * table entry is indexed (":status: 200" is 0x88), a field whose name is in the static table is a literal
 * without indexing with an indexed name, any other a literal without indexing with a literal name. Using no
 * dynamic table keeps the encoder stateless, so it needs no table-size tracking.
 */
public final class HpackEncoder {
    private HpackEncoder() {
    }

    /**
     * Appends the encoding of the fields to out. Names and values are written one byte per char; a char above
     * 0xFF is an IllegalArgumentException.
     */
    public static void encode(List<HeaderField> fields, ByteArrayOutputStream out) {
        int capacity = 0;
        for (HeaderField f : fields) {
            // Two strings with up to 5 length bytes each, plus a representation byte with up to 1 more for the index.
            capacity += f.name().length() + f.value().length() + 12;
        }
        byte[] buf = new byte[capacity];
        int p = 0;
        for (HeaderField f : fields) {
            int[] indices = HpackStaticTable.indicesOfName(f.name());
            if (indices == null) {
                buf[p++] = 0x00;
                p = writeString(buf, p, f.name());
            } else {
                int index = fullMatch(indices, f.value());
                if (index != 0) {
                    p = writeInteger(buf, p, 0x80, 7, index);
                    continue;
                }
                p = writeInteger(buf, p, 0x00, 4, indices[0]);
            }
            p = writeString(buf, p, f.value());
        }
        out.write(buf, 0, p);
    }

    /** The index among indices whose static entry has this value, or 0. */
    private static int fullMatch(int[] indices, String value) {
        for (int index : indices) {
            if (HpackStaticTable.get(index).value().equals(value)) {
                return index;
            }
        }
        return 0;
    }

    /** Writes value with an N-bit prefix, the first byte's other bits being flags (RFC 7541 5.1). */
    private static int writeInteger(byte[] buf, int p, int flags, int prefixBits, int value) {
        int max = (1 << prefixBits) - 1;
        if (value < max) {
            buf[p++] = (byte) (flags | value);
            return p;
        }
        buf[p++] = (byte) (flags | max);
        value -= max;
        while (value >= 0x80) {
            buf[p++] = (byte) (value & 0x7f | 0x80);
            value >>>= 7;
        }
        buf[p++] = (byte) value;
        return p;
    }

    private static int writeString(byte[] buf, int p, String s) {
        int length = s.length();
        p = writeInteger(buf, p, 0x00, 7, length);
        for (int i = 0; i < length; i++) {
            char c = s.charAt(i);
            if (c > 0xff) {
                throw new IllegalArgumentException("header character above 0xFF at " + i);
            }
            buf[p++] = (byte) c;
        }
        return p;
    }
}
