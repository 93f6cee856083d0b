package io.coracle.runtime.daemon.http2;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The HPACK static table (RFC 7541 Appendix A), indices 1..61, and the encoder's lookups into it. */
final class HpackStaticTable {
    private HpackStaticTable() {
    }

    /** Entry i is index i + 1. */
    static final List<HeaderField> ENTRIES = List.of(
            new HeaderField(":authority", ""),
            new HeaderField(":method", "GET"),
            new HeaderField(":method", "POST"),
            new HeaderField(":path", "/"),
            new HeaderField(":path", "/index.html"),
            new HeaderField(":scheme", "http"),
            new HeaderField(":scheme", "https"),
            new HeaderField(":status", "200"),
            new HeaderField(":status", "204"),
            new HeaderField(":status", "206"),
            new HeaderField(":status", "304"),
            new HeaderField(":status", "400"),
            new HeaderField(":status", "404"),
            new HeaderField(":status", "500"),
            new HeaderField("accept-charset", ""),
            new HeaderField("accept-encoding", "gzip, deflate"),
            new HeaderField("accept-language", ""),
            new HeaderField("accept-ranges", ""),
            new HeaderField("accept", ""),
            new HeaderField("access-control-allow-origin", ""),
            new HeaderField("age", ""),
            new HeaderField("allow", ""),
            new HeaderField("authorization", ""),
            new HeaderField("cache-control", ""),
            new HeaderField("content-disposition", ""),
            new HeaderField("content-encoding", ""),
            new HeaderField("content-language", ""),
            new HeaderField("content-length", ""),
            new HeaderField("content-location", ""),
            new HeaderField("content-range", ""),
            new HeaderField("content-type", ""),
            new HeaderField("cookie", ""),
            new HeaderField("date", ""),
            new HeaderField("etag", ""),
            new HeaderField("expect", ""),
            new HeaderField("expires", ""),
            new HeaderField("from", ""),
            new HeaderField("host", ""),
            new HeaderField("if-match", ""),
            new HeaderField("if-modified-since", ""),
            new HeaderField("if-none-match", ""),
            new HeaderField("if-range", ""),
            new HeaderField("if-unmodified-since", ""),
            new HeaderField("last-modified", ""),
            new HeaderField("link", ""),
            new HeaderField("location", ""),
            new HeaderField("max-forwards", ""),
            new HeaderField("proxy-authenticate", ""),
            new HeaderField("proxy-authorization", ""),
            new HeaderField("range", ""),
            new HeaderField("referer", ""),
            new HeaderField("refresh", ""),
            new HeaderField("retry-after", ""),
            new HeaderField("server", ""),
            new HeaderField("set-cookie", ""),
            new HeaderField("strict-transport-security", ""),
            new HeaderField("transfer-encoding", ""),
            new HeaderField("user-agent", ""),
            new HeaderField("vary", ""),
            new HeaderField("via", ""),
            new HeaderField("www-authenticate", ""));

    static final int LENGTH = 61;

    /** The indices of the entries with each name, lowest first. */
    private static final Map<String, int[]> BY_NAME = new HashMap<>();

    static {
        for (int i = 0; i < ENTRIES.size(); i++) {
            int index = i + 1;
            BY_NAME.merge(ENTRIES.get(i).name(), new int[] {index}, (a, b) -> {
                int[] both = java.util.Arrays.copyOf(a, a.length + 1);
                both[a.length] = index;
                return both;
            });
        }
    }

    static HeaderField get(int index) {
        return ENTRIES.get(index - 1);
    }

    /** The indices of the entries named name, lowest first, or null; the caller must not change the array. */
    static int[] indicesOfName(String name) {
        return BY_NAME.get(name);
    }
}
