package io.coracle.sandbox;

import static io.coracle.sandbox.RequestChecks.invalid;

import io.coracle.cri.v1.IDMapping;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.UserNamespace;
import java.util.List;

/**
 * A pod's user namespace (userns_options mode POD, KEP-127): the one uid and one gid mapping the
 * kubelet sends, checked as containerd 2.x checks them (one line each, container id 0; NODE without
 * mappings; CONTAINER and TARGET refused), and further: a length above 0, no id past 2^32-2, and no
 * mapping of the host's root (host_id 0), which would make the pod's root the host's.
 */
public record PodUserNamespace(Range uid, Range gid) {
    /** The highest id: (uint32)-1 is no id. */
    public static final long ID_MAX = 4294967294L;

    /** One mapping: container ids container..container+length-1 are host ids host..host+length-1. */
    public record Range(long container, long host, long length) {
        /** As coracle-pause takes it: CONTAINER:HOST:LENGTH. */
        public String arg() {
            return container + ":" + host + ":" + length;
        }

        /** The host id of container id c (which must be mapped). */
        public long hostIdOf(long c) {
            return host + (c - container);
        }
    }

    /**
     * The pod's user namespace from its userns_options: null when it shares the node's (no options,
     * or NODE); refused (INVALID_ARGUMENT, naming the field) for anything else than a valid POD.
     */
    public static PodUserNamespace of(String field, UserNamespace u) {
        if (u == null) {
            return null;
        }
        String counts = u.getUidsCount() + " uid and " + u.getGidsCount() + " gid mappings";
        if (u.getMode() == NamespaceMode.NODE) {
            if (u.getUidsCount() > 0 || u.getGidsCount() > 0) {
                throw invalid(field, "mode NODE with " + counts + ": a node user namespace takes no mappings");
            }
            return null;
        }
        if (u.getMode() != NamespaceMode.POD) {
            throw invalid(field + ".mode", u.getMode() + " is not supported for a user namespace: use POD or NODE");
        }
        if (u.getUidsCount() != 1 || u.getGidsCount() != 1) {
            throw invalid(field, "mode POD with " + counts + ": exactly one uid and one gid mapping are supported");
        }
        return new PodUserNamespace(range(field + ".uids[0]", u.getUids(0)), range(field + ".gids[0]", u.getGids(0)));
    }

    private static Range range(String field, IDMapping m) {
        long container = Integer.toUnsignedLong(m.getContainerId());
        long host = Integer.toUnsignedLong(m.getHostId());
        long length = Integer.toUnsignedLong(m.getLength());
        if (container != 0) {
            throw invalid(field + ".container_id", container + ": the mapping must start at container id 0 (root)");
        }
        if (length == 0) {
            throw invalid(field + ".length", "0: a mapping maps at least one id");
        }
        if (host + length - 1 > ID_MAX) {
            throw invalid(field, "host_id " + host + " + length " + length + " passes the highest id " + ID_MAX);
        }
        if (host == 0) {
            throw invalid(field + ".host_id", "0 would make the pod's root the host's root");
        }
        return new Range(container, host, length);
    }

    /** The same mappings as the userns_options u (a container's must be its pod's). */
    public boolean sameAs(UserNamespace u) {
        if (u == null || u.getMode() != NamespaceMode.POD || u.getUidsCount() != 1 || u.getGidsCount() != 1) {
            return false;
        }
        return same(uid, u.getUids(0)) && same(gid, u.getGids(0));
    }

    private static boolean same(Range r, IDMapping m) {
        return r.container == Integer.toUnsignedLong(m.getContainerId()) && r.host == Integer.toUnsignedLong(m.getHostId())
                && r.length == Integer.toUnsignedLong(m.getLength());
    }

    /** coracle-pause's arguments that make the pod's user namespace with these maps. */
    public List<String> pauseArgs() {
        return List.of("--uid-map", uid.arg(), "--gid-map", gid.arg());
    }
}
