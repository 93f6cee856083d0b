package io.coracle.cri;

import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Records by id, listed as one immutable snapshot that is copied again only after a put or remove:
 * the kubelet lists pods and containers every second, and an unchanged store lists the same object
 * (which {@link RepeatedAnswers} and the listers' caches then recognize).
 */
public final class ListedMap<V> {
    /** The values as last listed, with the map's version then. */
    private record Listed<V>(long version, List<V> values) {}

    private final ConcurrentHashMap<String, V> byId = new ConcurrentHashMap<>();
    private final AtomicLong version = new AtomicLong();
    private volatile Listed<V> listed;

    public V get(String id) {
        return byId.get(id);
    }

    public boolean containsKey(String id) {
        return byId.containsKey(id);
    }

    public void put(String id, V value) {
        byId.put(id, value);
        version.incrementAndGet();
    }

    public void remove(String id) {
        byId.remove(id);
        version.incrementAndGet();
    }

    /** A live view, for a search that needs no snapshot. */
    public Collection<V> values() {
        return byId.values();
    }

    /** Every value, the same list object until the map changes. */
    public List<V> list() {
        long v = version.get();
        Listed<V> l = listed;
        if (l == null || l.version() != v) {
            l = new Listed<>(v, List.copyOf(byId.values()));
            listed = l; // a change during the copy bumped the version: the next call copies again
        }
        return l.values();
    }
}
