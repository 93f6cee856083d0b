package io.coracle.runtime.daemon.http2;

/**
 * The HPACK Huffman code (RFC 7541 Appendix B) and a table-driven decoder for it that consumes 4 bits per step.
 *
 * <p>The code is canonical: codes are assigned in order of length, then of symbol, so the code lengths alone
 * define it. The decoder is a state machine over the code tree's 256 internal nodes; each (node, nibble) entry
 * says the next node, the symbol emitted on the way (at most one: the shortest code is 5 bits), whether EOS was
 * reached (an error) and whether ending there is valid padding (at most 7 bits, all ones).
 */
final class HpackHuffman {
    private HpackHuffman() {
    }

    static final int EOS = 256;

    /** Code length in bits of symbols 0..255 and EOS (256), from RFC 7541 Appendix B. */
    private static final byte[] CODE_LENGTHS = {
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
        28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
        5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
        6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
        21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
        19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
        30,
    };

    /** Canonical code of each symbol, right-aligned in CODE_LENGTHS[sym] bits. */
    static final int[] CODES = new int[257];

    private static final int NEXT_MASK = 0xff;
    private static final int SYM_SHIFT = 8;
    private static final int EMIT = 1 << 16;
    private static final int FAIL = 1 << 17;
    private static final int ACCEPT = 1 << 18;
    /** TRANSITIONS[node * 16 + nibble]: next node | symbol << 8 | EMIT | FAIL | ACCEPT. */
    private static final int[] TRANSITIONS = new int[256 * 16];

    static {
        // Canonical code assignment: walk lengths 1..30, symbols in order within each length.
        int code = 0;
        for (int len = 1; len <= 30; len++) {
            for (int sym = 0; sym <= EOS; sym++) {
                if (CODE_LENGTHS[sym] == len) {
                    CODES[sym] = code++;
                }
            }
            code <<= 1;
        }
        // The code tree: internal nodes 0..255 (0 the root); child >= 0 is a node, child < 0 is leaf ~symbol.
        int[][] child = new int[256][2];
        int[] depth = new int[256];
        boolean[] allOnes = new boolean[256];
        for (int[] c : child) {
            c[0] = c[1] = Integer.MIN_VALUE;
        }
        allOnes[0] = true;
        int nodes = 1;
        for (int sym = 0; sym <= EOS; sym++) {
            int node = 0;
            int len = CODE_LENGTHS[sym];
            for (int i = len - 1; i > 0; i--) {
                int bit = (CODES[sym] >>> i) & 1;
                if (child[node][bit] == Integer.MIN_VALUE) {
                    child[node][bit] = nodes;
                    depth[nodes] = depth[node] + 1;
                    allOnes[nodes] = allOnes[node] && bit == 1;
                    nodes++;
                }
                node = child[node][bit];
            }
            child[node][CODES[sym] & 1] = ~sym;
        }
        if (nodes != 256) {
            throw new AssertionError("Huffman tree has " + nodes + " internal nodes");
        }
        for (int node = 0; node < 256; node++) {
            for (int nibble = 0; nibble < 16; nibble++) {
                int at = node;
                int entry = 0;
                for (int i = 3; i >= 0 && (entry & FAIL) == 0; i--) {
                    int next = child[at][(nibble >>> i) & 1];
                    if (next >= 0) {
                        at = next;
                    } else if (~next == EOS) {
                        entry |= FAIL;
                    } else {
                        entry |= EMIT | (~next) << SYM_SHIFT;
                        at = 0;
                    }
                }
                if (at == 0 || (allOnes[at] && depth[at] <= 7)) {
                    entry |= ACCEPT;
                }
                TRANSITIONS[node * 16 + nibble] = entry | at;
            }
        }
    }

    /** Code length in bits of a symbol (0..256). */
    static int codeLength(int sym) {
        return CODE_LENGTHS[sym];
    }

    /**
     * Decodes len Huffman-coded bytes at src[off] into out, returning the decoded length; out must hold
     * {@link #maxDecodedLength}(len) bytes.
     */
    static int decode(byte[] src, int off, int len, byte[] out) throws HpackException {
        int n = 0;
        int state = 0;
        int entry = ACCEPT;
        for (int i = off, end = off + len; i < end; i++) {
            int b = src[i] & 0xff;
            entry = TRANSITIONS[state << 4 | b >>> 4];
            if ((entry & (EMIT | FAIL)) != 0) {
                if ((entry & FAIL) != 0) {
                    throw new HpackException("Huffman string contains EOS");
                }
                out[n++] = (byte) (entry >>> SYM_SHIFT);
            }
            state = entry & NEXT_MASK;
            entry = TRANSITIONS[state << 4 | b & 0xf];
            if ((entry & (EMIT | FAIL)) != 0) {
                if ((entry & FAIL) != 0) {
                    throw new HpackException("Huffman string contains EOS");
                }
                out[n++] = (byte) (entry >>> SYM_SHIFT);
            }
            state = entry & NEXT_MASK;
        }
        if ((entry & ACCEPT) == 0) {
            throw new HpackException("Huffman padding is longer than 7 bits or not all ones");
        }
        return n;
    }

    /** The most bytes len Huffman-coded bytes can decode to: the shortest code is 5 bits. */
    static int maxDecodedLength(int len) {
        return (int) ((long) len * 8 / 5);
    }
}
