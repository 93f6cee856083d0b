package io.coracle.runtime.daemon.http2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersEncoder;
import io.netty.util.AsciiString;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HpackDecoderTest {

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static List<HeaderField> fields(String... nameValues) {
        List<HeaderField> l = new ArrayList<>();
        for (int i = 0; i < nameValues.length; i += 2) {
            l.add(new HeaderField(nameValues[i], nameValues[i + 1]));
        }
        return l;
    }

    private static List<HeaderField> decode(HpackDecoder d, String hexBlock) throws HpackException {
        byte[] b = hex(hexBlock);
        DecodedHeaders h = d.decode(b, 0, b.length);
        assertFalse(h.overLimit());
        return h.fields();
    }

    private static HpackException rejects(String hexBlock) {
        byte[] b = hex(hexBlock);
        return assertThrows(HpackException.class, () -> new HpackDecoder(4096, 1 << 20).decode(b, 0, b.length));
    }

    // RFC 7541 C.2: single fields.

    @Test
    void c2LiteralWithIndexingAddsToTheTable() throws Exception {
        HpackDecoder d = new HpackDecoder(4096, 1 << 16);
        assertEquals(fields("custom-key", "custom-header"),
                decode(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
        assertEquals(55, d.dynamicTableSize());
        assertEquals(fields("custom-key", "custom-header"), d.dynamicTableEntries());
        assertEquals(fields("custom-key", "custom-header"), decode(d, "be"));
    }

    @Test
    void c2LiteralWithoutIndexingAndNeverIndexedLeaveTheTableEmpty() throws Exception {
        HpackDecoder d = new HpackDecoder(4096, 1 << 16);
        assertEquals(fields(":path", "/sample/path"), decode(d, "040c 2f73 616d 706c 652f 7061 7468"));
        assertEquals(fields("password", "secret"), decode(d, "1008 7061 7373 776f 7264 0673 6563 7265 74"));
        assertEquals(0, d.dynamicTableSize());
        assertEquals(fields(":method", "GET"), decode(d, "82"));
        assertThrows(HpackException.class, () -> d.decode(new byte[] {(byte) 0xbe}, 0, 1));
    }

    // RFC 7541 C.3 and C.4: three requests sharing a decoder, without and with Huffman.

    @Test
    void c3RequestsWithoutHuffman() throws Exception {
        requests(new String[] {
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"});
    }

    @Test
    void c4RequestsWithHuffman() throws Exception {
        requests(new String[] {
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"});
    }

    private static void requests(String[] blocks) throws Exception {
        HpackDecoder d = new HpackDecoder(4096, 1 << 16);
        assertEquals(fields(":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"),
                decode(d, blocks[0]));
        assertEquals(57, d.dynamicTableSize());
        assertEquals(fields(":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com",
                "cache-control", "no-cache"), decode(d, blocks[1]));
        assertEquals(110, d.dynamicTableSize());
        assertEquals(fields(":method", "GET", ":scheme", "https", ":path", "/index.html",
                ":authority", "www.example.com", "custom-key", "custom-value"), decode(d, blocks[2]));
        assertEquals(164, d.dynamicTableSize());
        assertEquals(fields("custom-key", "custom-value", "cache-control", "no-cache", ":authority", "www.example.com"),
                d.dynamicTableEntries());
    }

    // RFC 7541 C.5 and C.6: three responses with a 256-byte table, so entries are evicted.

    @Test
    void c5ResponsesWithoutHuffmanEvict() throws Exception {
        responses(new String[] {
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32"
                + " 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970"
                + " 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178"
                + " 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31"});
    }

    @Test
    void c6ResponsesWithHuffmanEvict() throws Exception {
        responses(new String[] {
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad"
                + " 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2"
                + " e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"});
    }

    private static void responses(String[] blocks) throws Exception {
        HpackDecoder d = new HpackDecoder(256, 1 << 16);
        String date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
        String location = "https://www.example.com";
        assertEquals(fields(":status", "302", "cache-control", "private", "date", date1, "location", location),
                decode(d, blocks[0]));
        assertEquals(222, d.dynamicTableSize());
        assertEquals(fields("location", location, "date", date1, "cache-control", "private", ":status", "302"),
                d.dynamicTableEntries());
        // The second response adds ":status: 307", evicting ":status: 302"; c1/c0/bf then name the shifted entries.
        assertEquals(fields(":status", "307", "cache-control", "private", "date", date1, "location", location),
                decode(d, blocks[1]));
        assertEquals(222, d.dynamicTableSize());
        assertEquals(fields(":status", "307", "location", location, "date", date1, "cache-control", "private"),
                d.dynamicTableEntries());
        String date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
        String cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
        assertEquals(fields(":status", "200", "cache-control", "private", "date", date2, "location", location,
                "content-encoding", "gzip", "set-cookie", cookie), decode(d, blocks[2]));
        assertEquals(215, d.dynamicTableSize());
        assertEquals(fields("set-cookie", cookie, "content-encoding", "gzip", "date", date2),
                d.dynamicTableEntries());
        // The evicted entries are gone: index 65 is now past the table.
        assertThrows(HpackException.class, () -> d.decode(new byte[] {(byte) 0xc1}, 0, 1));
    }

    @Test
    void huffmanCodesAreTheRfcTable() {
        // Spot checks of RFC 7541 Appendix B: '0' 00000, ' ' 010100, 'a' 00011, 0x00 1111111111000, EOS 30 ones.
        assertEquals(0x0, HpackHuffman.CODES['0']);
        assertEquals(0x14, HpackHuffman.CODES[' ']);
        assertEquals(0x3, HpackHuffman.CODES['a']);
        assertEquals(0x1ff8, HpackHuffman.CODES[0]);
        assertEquals(13, HpackHuffman.codeLength(0));
        assertEquals(0xfffffe2, HpackHuffman.CODES[2]);
        assertEquals(0x3fffffff, HpackHuffman.CODES[HpackHuffman.EOS]);
        assertEquals(30, HpackHuffman.codeLength(HpackHuffman.EOS));
    }

    @Test
    void decodesAtAnOffsetWithinALargerArray() throws Exception {
        byte[] b = hex("ffff 82 84 ffff");
        assertEquals(fields(":method", "GET", ":path", "/"), new HpackDecoder(4096, 1 << 16).decode(b, 2, 2).fields());
    }

    @Test
    void tableSizeUpdatesAtTheStartOfABlockAreApplied() throws Exception {
        HpackDecoder d = new HpackDecoder(4096, 1 << 16);
        decode(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        // Two updates (to 0, then to the maximum 4096) empty the table, then a field follows.
        assertEquals(fields(":method", "GET"), decode(d, "20 3fe11f 82"));
        assertEquals(0, d.dynamicTableSize());
        assertThrows(HpackException.class, () -> d.decode(new byte[] {(byte) 0xbe}, 0, 1));
    }

    // Hostile blocks: each an HpackException.

    @Test
    void truncatedIntegerIsRejected() {
        rejects("ff");
        rejects("ff 80");
        rejects("0f");
    }

    @Test
    void overflowingIntegersAreRejected() {
        rejects("7f ffff ffff ffff ffff ffff");
        rejects("ff ffff ffff 0f");
        // A string length above 2^24, declared by a block of a few bytes.
        rejects("40 7f ffff ff0f");
        // Too many (redundant zero) continuation bytes.
        rejects("ff 8080 8080 8080 00");
    }

    @Test
    void stringLengthPastTheEndIsRejected() {
        rejects("40 05 61");
        rejects("40 01 61 0a 6162");
        rejects("41");
        rejects("41 89 f1e3");
    }

    @Test
    void index0AndIndicesPastTheTableAreRejected() {
        rejects("80");
        rejects("be");
        rejects("7e 01 61");
        rejects("ff 8001");
        // Literal with a name index 0 is a literal name, so a bare 0x40 is a truncated string.
        rejects("40");
    }

    @Test
    void tableSizeUpdateAboveTheMaximumIsRejected() {
        rejects("3fe21f");
        rejects("3f e21f 82");
    }

    @Test
    void tableSizeUpdateAfterAFieldIsRejected() {
        rejects("82 20");
        rejects("82 3fe11f");
    }

    @Test
    void huffmanWithEosIsRejected() {
        // The value's Huffman string is 32 one bits: EOS (30 ones) and then padding.
        rejects("41 84 ffff ffff");
        // 'a' (00011) then EOS and then ones.
        rejects("41 85 1fff ffff ff");
    }

    @Test
    void huffmanPaddingLongerThan7BitsIsRejected() {
        // 'a' 00011 + 111 then a whole byte of ones: 11 bits of padding.
        rejects("41 82 1fff");
        // Only 8 bits of padding.
        rejects("41 81 ff");
    }

    @Test
    void huffmanPaddingNotAllOnesIsRejected() {
        // 'a' 00011 + 000.
        rejects("41 81 18");
        rejects("41 81 1e");
    }

    @Test
    void validHuffmanPaddingIsAccepted() throws Exception {
        // 'a' 00011 + 111.
        assertEquals(fields(":authority", "a"), decode(new HpackDecoder(4096, 1024), "41 81 1f"));
        assertEquals(fields(":authority", ""), decode(new HpackDecoder(4096, 1024), "41 80"));
    }

    @Test
    void uppercaseNamesAreRejected() {
        rejects("40 03 466f 6f 01 78");
        rejects("00 03 666f 4f 01 78");
        rejects("10 01 5a 01 78");
        // A Huffman-coded "Foo" name.
        byte[] name = huffman("Foo");
        byte[] block = new byte[3 + name.length];
        block[0] = 0x40;
        block[1] = (byte) (0x80 | name.length);
        System.arraycopy(name, 0, block, 2, name.length);
        block[block.length - 1] = 0x00;
        assertThrows(HpackException.class, () -> new HpackDecoder(4096, 1024).decode(block, 0, block.length));
    }

    /** Huffman-encodes s (chars 0..255) with the RFC code, padding with ones. */
    static byte[] huffman(String s) {
        long bits = 0;
        int n = 0;
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < s.length(); i++) {
            int sym = s.charAt(i);
            bits = bits << HpackHuffman.codeLength(sym) | HpackHuffman.CODES[sym];
            n += HpackHuffman.codeLength(sym);
            while (n >= 8) {
                out.write((int) (bits >>> (n - 8)));
                n -= 8;
            }
        }
        if (n > 0) {
            out.write((int) (bits << (8 - n) | (0xff >>> n)));
        }
        return out.toByteArray();
    }

    @Test
    void huffmanDecodesEveryByteValue() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int c = 0; c < 256; c++) {
            sb.append((char) c);
        }
        String all = sb.toString();
        byte[] value = huffman(all);
        java.io.ByteArrayOutputStream block = new java.io.ByteArrayOutputStream();
        block.write(0x01); // literal without indexing, name index 1 (:authority)
        block.write(0xff); // Huffman, length with 7-bit prefix
        int rest = value.length - 127;
        while (rest >= 0x80) {
            block.write(rest & 0x7f | 0x80);
            rest >>>= 7;
        }
        block.write(rest);
        block.writeBytes(value);
        byte[] b = block.toByteArray();
        assertEquals(fields(":authority", all), new HpackDecoder(4096, 1 << 16).decode(b, 0, b.length).fields());
    }

    @Test
    void huffmanOfOnlyShortestCodesFillsTheBoundExactly() throws Exception {
        // '0' has a 5-bit code: 800 of them are exactly 500 bytes, the most a 500-byte string can decode to.
        for (String value : List.of("0".repeat(800), "0".repeat(7), "0")) {
            byte[] coded = huffman(value);
            java.io.ByteArrayOutputStream block = new java.io.ByteArrayOutputStream();
            block.write(0x01);
            writeLength(block, 0x80, coded.length);
            block.writeBytes(coded);
            byte[] b = block.toByteArray();
            assertEquals(fields(":authority", value), new HpackDecoder(4096, 1 << 16).decode(b, 0, b.length).fields());
        }
    }

    private static void writeLength(java.io.ByteArrayOutputStream out, int flags, int length) {
        if (length < 127) {
            out.write(flags | length);
            return;
        }
        out.write(flags | 127);
        int rest = length - 127;
        while (rest >= 0x80) {
            out.write(rest & 0x7f | 0x80);
            rest >>>= 7;
        }
        out.write(rest);
    }

    @Test
    void manyReferencesToALargeEntryStopAtTheListLimit() throws Exception {
        // One 4000-byte entry, then 100000 one-byte references to it: 400 MB of header list from 100 KB.
        java.io.ByteArrayOutputStream block = new java.io.ByteArrayOutputStream();
        block.write(0x40);
        writeLength(block, 0, 5);
        block.writeBytes("x-big".getBytes());
        writeLength(block, 0, 4000);
        block.writeBytes("v".repeat(4000).getBytes());
        for (int i = 0; i < 100_000; i++) {
            block.write(0xbe);
        }
        byte[] b = block.toByteArray();
        HpackDecoder d = new HpackDecoder(4096, 16384);
        DecodedHeaders h = d.decode(b, 0, b.length);
        assertTrue(h.overLimit());
        // Each field counts 5 + 4000 + 32 = 4037: four fit in 16384.
        assertEquals(4, h.fields().size());
        assertEquals(fields("x-big", "v".repeat(4000)), d.decode(hex("be"), 0, 1).fields());
    }

    @Test
    void mutatedNettyBlocksOnlyEverThrowHpackException() throws Exception {
        Random r = new Random(9);
        DefaultHttp2HeadersEncoder netty = new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE, true, 16, 0);
        HpackDecoder d = new HpackDecoder(4096, 1 << 16);
        int rejected = 0;
        for (int i = 0; i < 5_000; i++) {
            List<HeaderField> list = new ArrayList<>();
            for (int k = r.nextInt(6); k >= 0; k--) {
                list.add(new HeaderField(r.nextBoolean() ? "x-" + r.nextInt(50) : ":path", randomValue(r)));
            }
            byte[] b = nettyEncode(netty, list);
            switch (r.nextInt(3)) {
                case 0 -> b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                case 1 -> b = java.util.Arrays.copyOf(b, r.nextInt(b.length));
                default -> b[r.nextInt(b.length)] = (byte) r.nextInt(256);
            }
            try {
                d.decode(b, 0, b.length);
            } catch (HpackException expected) {
                rejected++;
                // Netty's encoder and our table are out of step now: start both afresh.
                netty = new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE, true, 16, 0);
                d = new HpackDecoder(4096, 1 << 16);
            } catch (RuntimeException e) {
                throw new AssertionError("block " + HexFormat.of().formatHex(b), e);
            }
        }
        assertTrue(rejected > 100, "rejected " + rejected);
    }

    @Test
    void overLimitListIsFlaggedAndTheTableStaysInSync() throws Exception {
        // Each field counts 3 + 150 + 32 = 185: three are over 400, two are not.
        HpackDecoder d = new HpackDecoder(4096, 400);
        String big = "v".repeat(150);
        List<HeaderField> list = fields("x-a", big, "x-b", big, "x-c", big);
        // Netty encodes with incremental indexing: all three must enter our table even though the list is over.
        byte[] first = nettyEncode(new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE), list);
        DecodedHeaders h = d.decode(first, 0, first.length);
        assertTrue(h.overLimit());
        assertEquals(fields("x-a", big, "x-b", big), h.fields());
        assertEquals(3, d.dynamicTableEntries().size());
        // Index 62 (be) is the newest entry x-c, 63 (bf) x-b, 64 (c0) x-a.
        DecodedHeaders next = d.decode(hex("bf be"), 0, 2);
        assertFalse(next.overLimit());
        assertEquals(fields("x-b", big, "x-c", big), next.fields());
        assertEquals(fields("x-a", big), d.decode(hex("c0"), 0, 1).fields());
        // A field taking the list exactly to the limit is kept: 3 + 150 + 32 = 185.
        DecodedHeaders exact = new HpackDecoder(4096, 185).decode(first, 0, first.length);
        assertTrue(exact.overLimit());
        assertEquals(fields("x-a", big), exact.fields());
    }

    @Test
    void randomBlocksOnlyEverThrowHpackException() {
        Random r = new Random(7541);
        HpackDecoder d = new HpackDecoder(4096, 1 << 16);
        for (int i = 0; i < 20_000; i++) {
            byte[] b = new byte[r.nextInt(64)];
            r.nextBytes(b);
            if (i % 3 == 0 && b.length > 0) {
                b[0] = (byte) (0x40 | b[0] & 0x3f); // more literal-with-indexing starts, to grow the table
            }
            try {
                DecodedHeaders h = d.decode(b, 0, b.length);
                for (HeaderField f : h.fields()) {
                    for (int k = 0; k < f.name().length(); k++) {
                        char c = f.name().charAt(k);
                        if (c >= 'A' && c <= 'Z') {
                            fail("uppercase name decoded: " + f.name());
                        }
                    }
                }
            } catch (HpackException expected) {
                // a malformed block; a real connection would end here, the test keeps the table and goes on.
            } catch (RuntimeException e) {
                throw new AssertionError("block " + HexFormat.of().formatHex(b), e);
            }
        }
    }

    // Interop: header lists encoded by Netty's HPACK encoder decode to the same lists with ours.

    @Test
    void decodesNettyEncodedListsWithoutHuffman() throws Exception {
        interop(new Random(1), Integer.MAX_VALUE, 4096);
    }

    @Test
    void decodesNettyEncodedListsWithHuffman() throws Exception {
        interop(new Random(2), 0, 4096);
    }

    @Test
    void decodesNettyEncodedListsWithASmallTableThatEvicts() throws Exception {
        interop(new Random(3), 0, 256);
        interop(new Random(4), Integer.MAX_VALUE, 100);
    }

    private static void interop(Random r, int huffmanThreshold, int tableSize) throws Exception {
        Http2HeadersEncoder.SensitivityDetector sensitive = (name, value) -> (name.hashCode() ^ value.hashCode()) % 7 == 0;
        DefaultHttp2HeadersEncoder netty = new DefaultHttp2HeadersEncoder(sensitive, true, 16, huffmanThreshold);
        HpackDecoder ours = new HpackDecoder(4096, 1 << 20);
        if (tableSize != 4096) {
            netty.configuration().maxHeaderTableSize(tableSize);
        }
        List<String> names = new ArrayList<>(List.of(":authority", ":path", ":method", ":status", "content-type",
                "user-agent", "grpc-timeout", "te", "grpc-encoding", "x-custom", "accept-encoding", "cookie"));
        List<String> values = new ArrayList<>(List.of("", "GET", "POST", "200", "application/grpc", "trailers",
                "gzip, deflate", "/runtime.v1.RuntimeService/ListContainers", "grpc-java-netty/1.7"));
        for (int i = 0; i < 30; i++) {
            names.add(randomName(r));
            values.add(randomValue(r));
        }
        int dynamicUsed = 0;
        for (int block = 0; block < 300; block++) {
            List<HeaderField> list = new ArrayList<>();
            int n = r.nextInt(12);
            for (int i = 0; i < n; i++) {
                String name = r.nextInt(4) == 0 ? randomName(r) : names.get(r.nextInt(names.size()));
                String value = r.nextInt(3) == 0 ? randomValue(r) : values.get(r.nextInt(values.size()));
                list.add(new HeaderField(name, value));
            }
            byte[] encoded = nettyEncode(netty, list);
            DecodedHeaders decoded = ours.decode(encoded, 0, encoded.length);
            assertFalse(decoded.overLimit());
            assertEquals(nettyOrder(list), decoded.fields(), "block " + block);
            dynamicUsed = Math.max(dynamicUsed, ours.dynamicTableEntries().size());
            assertTrue(ours.dynamicTableSize() <= tableSize);
        }
        assertTrue(dynamicUsed > 0, "the dynamic table was used");
    }

    private static String randomName(Random r) {
        int len = 1 + r.nextInt(20);
        StringBuilder sb = new StringBuilder();
        String chars = "abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&'*+^`|~";
        for (int i = 0; i < len; i++) {
            sb.append(chars.charAt(r.nextInt(i == 0 ? 26 : chars.length())));
        }
        return sb.toString();
    }

    private static String randomValue(Random r) {
        int len = r.nextInt(r.nextInt(10) == 0 ? 300 : 40);
        StringBuilder sb = new StringBuilder();
        boolean binary = r.nextBoolean();
        for (int i = 0; i < len; i++) {
            sb.append((char) (binary ? r.nextInt(256) : 0x20 + r.nextInt(0x5f)));
        }
        return sb.toString();
    }

    /** Encodes with Netty; Netty's Http2Headers hold values as bytes (AsciiString), one char per byte. */
    static byte[] nettyEncode(DefaultHttp2HeadersEncoder encoder, List<HeaderField> list) throws Exception {
        Http2Headers headers = new DefaultHttp2Headers(false, false, 16);
        for (HeaderField f : list) {
            headers.add(new AsciiString(f.name()), latin1(f.value()));
        }
        ByteBuf buf = Unpooled.buffer();
        try {
            encoder.encodeHeaders(3, headers, buf);
            byte[] b = new byte[buf.readableBytes()];
            buf.readBytes(b);
            return b;
        } finally {
            buf.release();
        }
    }

    private static AsciiString latin1(String s) {
        byte[] b = new byte[s.length()];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) s.charAt(i);
        }
        return new AsciiString(b, false);
    }

    /** The order Netty iterates (and encodes) a list in: pseudo-headers first. */
    private static List<HeaderField> nettyOrder(List<HeaderField> list) {
        Http2Headers headers = new DefaultHttp2Headers(false, false, 16);
        for (HeaderField f : list) {
            headers.add(new AsciiString(f.name()), latin1(f.value()));
        }
        List<HeaderField> out = new ArrayList<>();
        for (Map.Entry<CharSequence, CharSequence> e : headers) {
            out.add(new HeaderField(e.getKey().toString(), e.getValue().toString()));
        }
        return out;
    }
}
