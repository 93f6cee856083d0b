package io.coracle.runtime.daemon.http2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HpackEncoderTest {

    private static byte[] encode(HeaderField... fields) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        HpackEncoder.encode(List.of(fields), out);
        return out.toByteArray();
    }

    private static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    @Test
    void staticMatchesAreIndexed() {
        assertEquals("88", hex(encode(new HeaderField(":status", "200"))));
        assertEquals("82", hex(encode(new HeaderField(":method", "GET"))));
        assertEquals("87", hex(encode(new HeaderField(":scheme", "https"))));
        assertEquals("90", hex(encode(new HeaderField("accept-encoding", "gzip, deflate"))));
        // A static entry with an empty value is indexed only for an empty value.
        assertEquals("81", hex(encode(new HeaderField(":authority", ""))));
    }

    @Test
    void staticNameMatchesAreLiteralWithoutIndexingWithAnIndexedName() {
        // content-type is index 31: 0000 1111 + (31 - 15 = 16).
        assertEquals("0f1010" + hex("application/grpc".getBytes()),
                hex(encode(new HeaderField("content-type", "application/grpc"))));
        // :status 418: name index 8 fits the 4-bit prefix.
        assertEquals("0803343138", hex(encode(new HeaderField(":status", "418"))));
    }

    @Test
    void otherFieldsAreLiteralWithoutIndexingWithALiteralName() {
        assertEquals("00 0b 677270632d737461747573 01 30".replace(" ", ""),
                hex(encode(new HeaderField("grpc-status", "0"))));
    }

    @Test
    void longStringsUseMultiByteLengths() throws Exception {
        String value = "x".repeat(300);
        byte[] b = encode(new HeaderField("grpc-message", value));
        // 300 = 127 + 173: 0x7f, then 173 = 0xad (0x2d | 0x80), 0x01.
        assertArrayEquals(new byte[] {0x00, 0x0c}, java.util.Arrays.copyOf(b, 2));
        assertEquals("7fad01", hex(java.util.Arrays.copyOfRange(b, 14, 17)));
        assertEquals(List.of(new HeaderField("grpc-message", value)),
                new HpackDecoder(4096, 1 << 16).decode(b, 0, b.length).fields());
    }

    @Test
    void appendsToWhatIsInTheStream() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x42);
        HpackEncoder.encode(List.of(new HeaderField(":status", "200")), out);
        assertEquals("4288", hex(out.toByteArray()));
    }

    @Test
    void staticTableIsNettys() throws Exception {
        // Netty indexes a field equal to a static entry as that entry: so entry i must be Netty's entry i.
        for (int i = 1; i <= HpackStaticTable.LENGTH; i++) {
            HeaderField f = HpackStaticTable.get(i);
            byte[] netty = HpackDecoderTest.nettyEncode(
                    new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE), List.of(f));
            assertEquals(hex(new byte[] {(byte) (0x80 | i)}), hex(netty), f.toString());
            assertEquals(hex(netty), hex(encode(f)), f.toString());
        }
    }

    @Test
    void charsAboveFFAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> encode(new HeaderField("x", "\u0100")));
    }

    @Test
    void roundTripsThroughOurDecoderAndNettysDecoder() throws Exception {
        Random r = new Random(42);
        HpackDecoder ours = new HpackDecoder(4096, 1 << 20);
        DefaultHttp2HeadersDecoder netty = new DefaultHttp2HeadersDecoder(false, 1L << 20);
        List<HeaderField> vocabulary = new ArrayList<>(HpackStaticTable.ENTRIES);
        vocabulary.add(new HeaderField("content-type", "application/grpc"));
        vocabulary.add(new HeaderField("grpc-status", "0"));
        vocabulary.add(new HeaderField(":status", "418"));
        for (int block = 0; block < 500; block++) {
            List<HeaderField> pseudo = new ArrayList<>();
            List<HeaderField> regular = new ArrayList<>();
            int n = r.nextInt(10);
            for (int i = 0; i < n; i++) {
                HeaderField f;
                if (r.nextBoolean()) {
                    f = vocabulary.get(r.nextInt(vocabulary.size()));
                } else {
                    StringBuilder value = new StringBuilder();
                    for (int k = r.nextInt(r.nextInt(10) == 0 ? 400 : 30); k > 0; k--) {
                        value.append((char) r.nextInt(256));
                    }
                    String name = r.nextBoolean() ? vocabulary.get(r.nextInt(vocabulary.size())).name()
                            : "x-" + Integer.toString(r.nextInt(1000), 36);
                    f = new HeaderField(name, value.toString());
                }
                (f.name().startsWith(":") ? pseudo : regular).add(f);
            }
            // Netty's headers put pseudo-headers first; so does every real header list.
            List<HeaderField> list = new ArrayList<>(pseudo);
            list.addAll(regular);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            HpackEncoder.encode(list, out);
            byte[] b = out.toByteArray();
            assertEquals(list, ours.decode(b, 0, b.length).fields(), "ours, block " + block);
            assertEquals(0, ours.dynamicTableSize());
            Http2Headers decoded = netty.decodeHeaders(1, Unpooled.wrappedBuffer(b));
            List<HeaderField> fromNetty = new ArrayList<>();
            for (Map.Entry<CharSequence, CharSequence> e : decoded) {
                fromNetty.add(new HeaderField(e.getKey().toString(), e.getValue().toString()));
            }
            assertEquals(list, fromNetty, "Netty, block " + block);
        }
    }
}
