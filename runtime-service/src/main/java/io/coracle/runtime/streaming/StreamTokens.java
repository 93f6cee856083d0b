package io.coracle.runtime.streaming;

import com.google.protobuf.Message;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The single-use tokens of streaming URLs: each holds the CRI request (ExecRequest, AttachRequest
 * or PortForwardRequest) it was issued for, until it is used once or expires. At most
 * {@link #MAX_IN_FLIGHT} are outstanding, as in the kubelet's own streaming server.
 */
public final class StreamTokens {
    public static final int MAX_IN_FLIGHT = 1000;

    private record Entry(Message request, long expiresAtNanos) {}

    private final SecureRandom random = new SecureRandom();
    private final Duration ttl;
    private final Map<String, Entry> tokens = new LinkedHashMap<>(); // insertion order = expiry order

    public StreamTokens(Duration ttl) {
        this.ttl = ttl;
    }

    /** A fresh token for the request; empty when too many are outstanding. */
    public synchronized Optional<String> issue(Message request) {
        long now = System.nanoTime();
        dropExpired(now);
        if (tokens.size() >= MAX_IN_FLIGHT) {
            return Optional.empty();
        }
        byte[] bytes = new byte[12];
        String token;
        do {
            random.nextBytes(bytes);
            token = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
        } while (tokens.containsKey(token));
        tokens.put(token, new Entry(request, now + ttl.toNanos()));
        return Optional.of(token);
    }

    /** The token's request, removing the token: empty when unknown, used or expired. */
    public synchronized Optional<Message> consume(String token) {
        long now = System.nanoTime();
        dropExpired(now);
        Entry e = tokens.remove(token);
        return e == null ? Optional.empty() : Optional.of(e.request());
    }

    private void dropExpired(long now) {
        for (Iterator<Entry> it = tokens.values().iterator(); it.hasNext(); ) {
            if (it.next().expiresAtNanos() - now > 0) {
                break;
            }
            it.remove();
        }
    }
}
