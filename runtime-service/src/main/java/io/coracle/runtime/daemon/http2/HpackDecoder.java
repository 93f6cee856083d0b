package io.coracle.runtime.daemon.http2;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Decodes HPACK header blocks (RFC 7541) of one HTTP/2 connection; not thread-safe. The input comes from any
 * client of the socket: every integer, length and index is range-checked, every allocation is bounded by the
 * block's length, and any malformation is an {@link HpackException}.
 */
public final class HpackDecoder {
    /** Largest integer accepted anywhere (string lengths, indices, table sizes). */
    static final int MAX_INTEGER = 1 << 24;
    /** Most continuation bytes of one integer (5 * 7 bits covers MAX_INTEGER with room for redundant zeros). */
    private static final int MAX_CONTINUATION_BYTES = 5;

    private final int maxTableSize;
    private final int maxHeaderListSize;
    private final DynamicTable table;

    private byte[] block;
    private int pos;
    private int end;

    /**
     * maxTableSize: our SETTINGS_HEADER_TABLE_SIZE (e.g. 4096); maxHeaderListSize: bytes, counted as RFC 7540
     * 6.5.2 (name + value + 32 per field).
     */
    public HpackDecoder(int maxTableSize, int maxHeaderListSize) {
        if (maxTableSize < 0 || maxTableSize > MAX_INTEGER || maxHeaderListSize < 0) {
            throw new IllegalArgumentException("maxTableSize " + maxTableSize + ", maxHeaderListSize " + maxHeaderListSize);
        }
        this.maxTableSize = maxTableSize;
        this.maxHeaderListSize = maxHeaderListSize;
        this.table = new DynamicTable(maxTableSize);
    }

    /**
     * Decodes one complete header block (HEADERS + CONTINUATION payloads joined). Always decodes the whole
     * block, so the dynamic table stays in sync even when the list is over the limit.
     */
    public DecodedHeaders decode(byte[] block, int offset, int length) throws HpackException {
        Objects.checkFromIndexSize(offset, length, block.length);
        this.block = block;
        this.pos = offset;
        this.end = offset + length;
        try {
            List<HeaderField> fields = new ArrayList<>();
            long listSize = 0;
            boolean overLimit = false;
            boolean sizeUpdateAllowed = true;
            while (pos < end) {
                int b = block[pos++] & 0xff;
                HeaderField field;
                if ((b & 0x80) != 0) {
                    field = lookup(readInteger(b, 7));
                } else if ((b & 0x40) != 0) {
                    field = readLiteral(b, 6);
                    table.add(field);
                } else if ((b & 0x20) != 0) {
                    if (!sizeUpdateAllowed) {
                        throw new HpackException("dynamic table size update after a header field");
                    }
                    int size = readInteger(b, 5);
                    if (size > maxTableSize) {
                        throw new HpackException("dynamic table size update to " + size + " above " + maxTableSize);
                    }
                    table.setMaxSize(size);
                    continue;
                } else {
                    // 0000xxxx literal without indexing, 0001xxxx literal never indexed: same for a decoder.
                    field = readLiteral(b, 4);
                }
                sizeUpdateAllowed = false;
                if (!overLimit) {
                    listSize += field.hpackSize();
                    if (listSize > maxHeaderListSize) {
                        overLimit = true;
                    } else {
                        fields.add(field);
                    }
                }
            }
            return new DecodedHeaders(fields, overLimit);
        } finally {
            this.block = null;
        }
    }

    private HeaderField readLiteral(int first, int prefixBits) throws HpackException {
        int nameIndex = readInteger(first, prefixBits);
        String name = nameIndex == 0 ? readString(true) : lookup(nameIndex).name();
        return new HeaderField(name, readString(false));
    }

    private HeaderField lookup(int index) throws HpackException {
        if (index == 0) {
            throw new HpackException("header index 0");
        }
        if (index <= HpackStaticTable.LENGTH) {
            return HpackStaticTable.get(index);
        }
        int dynamicIndex = index - HpackStaticTable.LENGTH;
        if (dynamicIndex > table.count()) {
            throw new HpackException("header index " + index + " beyond the table (" + table.count() + " dynamic entries)");
        }
        return table.get(dynamicIndex);
    }

    /** Reads an integer whose first byte (already consumed) is first, with an N-bit prefix (RFC 7541 5.1). */
    private int readInteger(int first, int prefixBits) throws HpackException {
        int max = (1 << prefixBits) - 1;
        int value = first & max;
        if (value < max) {
            return value;
        }
        long acc = value;
        int shift = 0;
        for (int i = 0; ; i++) {
            if (pos >= end) {
                throw new HpackException("truncated integer");
            }
            if (i == MAX_CONTINUATION_BYTES) {
                throw new HpackException("integer with more than " + MAX_CONTINUATION_BYTES + " continuation bytes");
            }
            int b = block[pos++] & 0xff;
            acc += (long) (b & 0x7f) << shift;
            if (acc > MAX_INTEGER) {
                throw new HpackException("integer above " + MAX_INTEGER);
            }
            if ((b & 0x80) == 0) {
                return (int) acc;
            }
            shift += 7;
        }
    }

    /** Reads a string literal (RFC 7541 5.2); a name must not contain uppercase letters (RFC 7540 8.1.2). */
    private String readString(boolean name) throws HpackException {
        if (pos >= end) {
            throw new HpackException("truncated string literal");
        }
        int first = block[pos++] & 0xff;
        int length = readInteger(first, 7);
        if (length > end - pos) {
            throw new HpackException("string length " + length + " past the end of the block");
        }
        byte[] bytes;
        int from;
        int count;
        if ((first & 0x80) != 0) {
            bytes = new byte[HpackHuffman.maxDecodedLength(length)];
            from = 0;
            count = HpackHuffman.decode(block, pos, length, bytes);
        } else {
            bytes = block;
            from = pos;
            count = length;
        }
        pos += length;
        if (name) {
            for (int i = from, stop = from + count; i < stop; i++) {
                int c = bytes[i];
                if (c >= 'A' && c <= 'Z') {
                    throw new HpackException("uppercase letter in header name");
                }
            }
        }
        return new String(bytes, from, count, StandardCharsets.ISO_8859_1);
    }

    /** Current size of the dynamic table (sum of entry sizes), for tests. */
    int dynamicTableSize() {
        return table.size();
    }

    /** Dynamic table entries, newest first, for tests. */
    List<HeaderField> dynamicTableEntries() {
        List<HeaderField> entries = new ArrayList<>();
        for (int i = 1; i <= table.count(); i++) {
            entries.add(table.get(i));
        }
        return entries;
    }

    /** The dynamic table: a ring of entries, evicted oldest first to stay within maxSize (RFC 7541 4). */
    private static final class DynamicTable {
        private final HeaderField[] ring;
        private int newest = -1;
        private int count;
        private int size;
        private int maxSize;

        DynamicTable(int maxSize) {
            this.maxSize = maxSize;
            // Each entry takes at least 32 bytes of maxSize.
            this.ring = new HeaderField[maxSize / 32 + 1];
        }

        int count() {
            return count;
        }

        int size() {
            return size;
        }

        /** Entry 1 is the newest. */
        HeaderField get(int index) {
            return ring[Math.floorMod(newest - (index - 1), ring.length)];
        }

        void add(HeaderField field) {
            int fieldSize = field.hpackSize();
            if (fieldSize > maxSize) {
                // An entry larger than the table empties it and is not added (RFC 7541 4.4).
                while (count > 0) {
                    evictOldest();
                }
                return;
            }
            while (size + fieldSize > maxSize) {
                evictOldest();
            }
            newest = (newest + 1) % ring.length;
            ring[newest] = field;
            count++;
            size += fieldSize;
        }

        void setMaxSize(int newMaxSize) {
            maxSize = newMaxSize;
            while (size > maxSize) {
                evictOldest();
            }
        }

        private void evictOldest() {
            int oldest = Math.floorMod(newest - (count - 1), ring.length);
            size -= ring[oldest].hpackSize();
            ring[oldest] = null;
            count--;
        }
    }
}
