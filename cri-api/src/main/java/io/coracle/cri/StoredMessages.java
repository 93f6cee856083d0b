package io.coracle.cri;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * CRI messages kept in records as bytes (a pod's or a container's config), parsed once per byte
 * array rather than on every status and list call. Keyed by the array's identity and held weakly:
 * an entry goes with the record that owns the array. Parsed messages are immutable and never alias
 * the array, so sharing them is safe as long as no caller changes the array (records do not).
 */
public final class StoredMessages {
    private static final Map<byte[], Message> PARSED = Collections.synchronizedMap(new WeakHashMap<>());

    private StoredMessages() {}

    public static <T extends Message> T parse(byte[] bytes, Parser<T> parser) throws InvalidProtocolBufferException {
        Message known = PARSED.get(bytes);
        if (known != null) {
            @SuppressWarnings("unchecked")
            T t = (T) known;
            return t;
        }
        T parsed = parser.parseFrom(bytes);
        PARSED.put(bytes, parsed);
        return parsed;
    }
}
