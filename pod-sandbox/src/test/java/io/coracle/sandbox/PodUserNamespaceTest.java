package io.coracle.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.IDMapping;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.UserNamespace;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The checks of a pod's userns_options, with what a hostile client would send. */
class PodUserNamespaceTest {
    static IDMapping map(long container, long host, long length) {
        return IDMapping.newBuilder().setContainerId((int) container).setHostId((int) host).setLength((int) length).build();
    }

    static UserNamespace pod(IDMapping uid, IDMapping gid) {
        return UserNamespace.newBuilder().setMode(NamespaceMode.POD).addUids(uid).addGids(gid).build();
    }

    static String refused(UserNamespace u) {
        return assertThrows(InvalidRequestException.class, () -> PodUserNamespace.of("u", u)).getMessage();
    }

    @Test
    void theKubeletsMappingsAndCritestsAreTaken() {
        PodUserNamespace k = PodUserNamespace.of("u", pod(map(0, 65536 * 7, 65536), map(0, 65536 * 7, 65536)));
        assertEquals(List.of("--uid-map", "0:458752:65536", "--gid-map", "0:458752:65536"), k.pauseArgs());
        // critest's: not a multiple of 65536, accepted as containerd does.
        PodUserNamespace c = PodUserNamespace.of("u", pod(map(0, 1000, 100000), map(0, 1000, 100000)));
        assertEquals(new PodUserNamespace.Range(0, 1000, 100000), c.uid());
        // The very top: the last id 2^32-2 is mappable.
        PodUserNamespace top = PodUserNamespace.of("u", pod(map(0, 4294967294L, 1), map(0, 1, 1)));
        assertEquals(4294967294L, top.uid().host());
        assertNull(PodUserNamespace.of("u", null));
        assertNull(PodUserNamespace.of("u", UserNamespace.newBuilder().setMode(NamespaceMode.NODE).build()));
    }

    @Test
    void hostileMappingsAreRefusedNamingTheField() {
        IDMapping ok = map(0, 65536, 65536);
        assertTrue(refused(pod(map(0, 4294967295L - 10, 100), ok)).contains("passes the highest id 4294967294"));
        assertTrue(refused(pod(map(0, 4294967295L, 1), ok)).contains("passes the highest id"));
        assertTrue(refused(pod(map(0, -1, -1), ok)).contains("host_id 4294967295 + length 4294967295"));
        assertTrue(refused(pod(ok, map(0, 65536, 0))).contains("u.gids[0].length: 0"));
        assertTrue(refused(pod(map(0, 0, 65536), ok)).contains("u.uids[0].host_id: 0 would make the pod's root the host's root"));
        assertTrue(refused(pod(map(0, 0, 1), ok)).contains("host's root"));
        assertTrue(refused(pod(map(1, 65536, 65536), ok)).contains("u.uids[0].container_id: 1"));
        assertTrue(refused(pod(map(-1, 65536, 65536), ok)).contains("container_id: 4294967295"));
        // More than one line (overlapping or not), or none.
        assertTrue(refused(pod(ok, ok).toBuilder().addUids(map(0, 65536 + 10, 65536)).build())
                .contains("mode POD with 2 uid and 1 gid mappings: exactly one"));
        assertTrue(refused(UserNamespace.newBuilder().setMode(NamespaceMode.POD).addUids(ok).build())
                .contains("with 1 uid and 0 gid mappings"));
        assertTrue(refused(UserNamespace.newBuilder().setMode(NamespaceMode.CONTAINER).build())
                .contains("u.mode: CONTAINER is not supported"));
        assertTrue(refused(UserNamespace.newBuilder().setMode(NamespaceMode.TARGET).build()).contains("TARGET"));
        assertTrue(refused(UserNamespace.newBuilder().setModeValue(99).build()).contains("not supported"));
        assertTrue(refused(UserNamespace.newBuilder().setMode(NamespaceMode.NODE).addUids(ok).build())
                .contains("a node user namespace takes no mappings"));
    }

    @Test
    void aContainersMappingMustBeItsPods() {
        UserNamespace u = pod(map(0, 65536, 65536), map(0, 131072, 65536));
        PodUserNamespace p = PodUserNamespace.of("u", u);
        assertTrue(p.sameAs(u));
        assertFalse(p.sameAs(pod(map(0, 65536, 65536), map(0, 65536, 65536))));
        assertFalse(p.sameAs(pod(map(0, 65536, 65535), map(0, 131072, 65536))));
        assertFalse(p.sameAs(u.toBuilder().setMode(NamespaceMode.NODE).build()));
        assertFalse(p.sameAs(u.toBuilder().addUids(map(0, 65536, 65536)).build()));
        assertFalse(p.sameAs(null));
    }
}
