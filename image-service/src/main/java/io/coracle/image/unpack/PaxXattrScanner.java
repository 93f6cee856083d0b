package io.coracle.image.unpack;

import io.coracle.image.ImageException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Follows the tar stream byte by byte beside the tar reader and keeps each entry's xattrs from its PAX
 * header as raw bytes. commons-compress decodes PAX values as UTF-8, which loses binary values such as
 * {@code security.capability}; this keeps them. Entries are numbered in stream order, as the reader
 * returns them. It refuses, as a hostile layer, any special header over {@link #MAX_SPECIAL} bytes
 * before the tar reader would buffer it, and a size it cannot read (the reader would fail on it too),
 * so that it never loses its place in the stream.
 */
final class PaxXattrScanner {
    private static final String SCHILY = "SCHILY.xattr.";
    private static final String LIBARCHIVE = "LIBARCHIVE.xattr.";
    /**
     * The largest special header (PAX 'x'/'g', GNU long name 'L'/'K') a layer may hold, as Go's
     * archive/tar allows: the tar reader buffers them whole, so a larger one is refused before it does.
     */
    static final long MAX_SPECIAL = 1L << 20;

    private final byte[] header = new byte[512];
    private int headerFill;
    private long dataLeft;      // bytes of the current entry's data (and padding) still to pass
    private long paxLeft;       // bytes of a PAX header's records still to collect
    private ByteArrayOutputStream pax;
    private Map<String, byte[]> pending = new LinkedHashMap<>();
    private long pendingSize = -1; // a PAX "size" record overrides the next header's size field
    private final List<Map<String, byte[]>> entries = new ArrayList<>();
    private boolean sparseExtension; // the next block is an old-GNU sparse extension header
    private long sparseData;         // that entry's data, passed once its extension headers end

    private final String what;

    /** {@code what}: the layer, for error messages. */
    PaxXattrScanner(String what) {
        this.what = what;
    }

    private ImageException hostile(String why) {
        return new ImageException(ImageException.Reason.HOSTILE_LAYER, what + ": rejected layer tar: " + why);
    }

    /** Feeds bytes as they pass to the tar reader. */
    void accept(byte[] b, int off, int len) {
        int i = off;
        int end = off + len;
        while (i < end) {
            if (dataLeft > 0) {
                int n = (int) Math.min(dataLeft, end - i);
                if (pax != null && paxLeft > 0) {
                    int keep = (int) Math.min(paxLeft, n);
                    pax.write(b, i, keep);
                    paxLeft -= keep;
                }
                dataLeft -= n;
                i += n;
                if (dataLeft == 0 && pax != null) {
                    pending.putAll(parseRecords(pax.toByteArray()));
                    pax = null;
                }
                continue;
            }
            int n = Math.min(512 - headerFill, end - i);
            System.arraycopy(b, i, header, headerFill, n);
            headerFill += n;
            i += n;
            if (headerFill == 512) {
                headerFill = 0;
                onHeader();
            }
        }
    }

    /** The raw xattrs of the {@code index}-th entry (0-based), or null when unknown. */
    Map<String, byte[]> xattrs(int index) {
        if (index >= entries.size()) {
            return null;
        }
        return entries.get(index);
    }

    private void onHeader() {
        if (sparseExtension) {
            sparseExtension = header[504] != 0;
            if (!sparseExtension) {
                dataLeft = sparseData;
            }
            return;
        }
        boolean zero = true;
        for (byte x : header) {
            if (x != 0) {
                zero = false;
                break;
            }
        }
        if (zero) {
            return; // end-of-archive blocks
        }
        long size = size();
        if (size < 0) {
            throw hostile("a tar header with an unreadable size field");
        }
        char type = (char) header[156];
        boolean entry = type != 'x' && type != 'g' && type != 'L' && type != 'K';
        if (entry && pendingSize >= 0) {
            size = pendingSize;
            pendingSize = -1;
        }
        if (!entry && size > MAX_SPECIAL) {
            throw hostile("a '" + type + "' header of " + size
                    + " bytes (at most " + MAX_SPECIAL + " are allowed)");
        }
        dataLeft = (size + 511) / 512 * 512;
        switch (type) {
            case 'x' -> {
                pax = new ByteArrayOutputStream((int) Math.min(size, 1 << 20));
                paxLeft = size;
                if (dataLeft == 0) {
                    pax = null;
                }
            }
            case 'g', 'L', 'K' -> { } // global header, GNU long names: not an entry
            case 'S' -> { // old GNU sparse: an entry, maybe followed by extension headers before its data
                entries.add(pending);
                pending = new LinkedHashMap<>();
                if (header[482] != 0) {
                    sparseExtension = true;
                    sparseData = dataLeft;
                    dataLeft = 0;
                }
            }
            default -> {
                entries.add(pending);
                pending = new LinkedHashMap<>();
            }
        }
    }

    /** The size field: octal digits, or base-256 when the high bit of its first byte is set. */
    private long size() {
        if ((header[124] & 0x80) != 0) {
            long v = 0;
            for (int k = 125; k < 136; k++) {
                v = (v << 8) | (header[k] & 0xff);
            }
            return v;
        }
        long v = 0;
        boolean digits = false;
        for (int k = 124; k < 136; k++) {
            int c = header[k] & 0xff;
            if (c >= '0' && c <= '7') {
                v = v * 8 + (c - '0');
                digits = true;
            } else if (c == ' ' || c == 0) {
                if (digits) {
                    break; // the field ends
                }
            } else {
                return -1;
            }
        }
        return v;
    }

    /** PAX records: "LEN key=value\n", LEN counting the whole record; xattr values kept as bytes. */
    private Map<String, byte[]> parseRecords(byte[] data) {
        Map<String, byte[]> out = new LinkedHashMap<>();
        int pos = 0;
        while (pos < data.length) {
            int space = pos;
            while (space < data.length && data[space] != ' ') {
                space++;
            }
            if (space >= data.length) {
                break;
            }
            int len;
            try {
                len = Integer.parseInt(new String(data, pos, space - pos, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                break;
            }
            int recordEnd = pos + len;
            if (len <= 0 || recordEnd > data.length) {
                break;
            }
            int eq = space + 1;
            while (eq < recordEnd && data[eq] != '=') {
                eq++;
            }
            if (eq < recordEnd) {
                String key = new String(data, space + 1, eq - space - 1, StandardCharsets.UTF_8);
                int valueEnd = recordEnd - 1; // the record's trailing newline
                byte[] value = java.util.Arrays.copyOfRange(data, eq + 1, Math.max(eq + 1, valueEnd));
                if (key.equals("size")) {
                    try {
                        pendingSize = Long.parseLong(new String(value, StandardCharsets.US_ASCII));
                    } catch (NumberFormatException e) {
                        pendingSize = -2;
                    }
                    if (pendingSize < 0) {
                        throw hostile("a PAX size record '"
                                + new String(value, 0, Math.min(value.length, 32), StandardCharsets.US_ASCII)
                                + "' that is not a size");
                    }
                } else if (key.startsWith(SCHILY)) {
                    out.put(key.substring(SCHILY.length()), value);
                } else if (key.startsWith(LIBARCHIVE)) {
                    // libarchive: URL-encoded name, base64 value
                    String name = java.net.URLDecoder.decode(key.substring(LIBARCHIVE.length()), StandardCharsets.UTF_8);
                    try {
                        out.put(name, Base64.getDecoder().decode(new String(value, StandardCharsets.US_ASCII).trim()));
                    } catch (IllegalArgumentException e) {
                        // not base64: leave it to the reader's value
                    }
                }
            }
            pos = recordEnd;
        }
        return out;
    }
}
