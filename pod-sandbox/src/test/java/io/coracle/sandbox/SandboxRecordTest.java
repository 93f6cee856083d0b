package io.coracle.sandbox;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sandbox record split into metadata and status: a record written by the version before the
 * split (one flat object, kept as a test resource) still loads, and records are written in that
 * same flat layout.
 */
class SandboxRecordTest {
    private static final String ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path root;

    private byte[] oldRecord() throws Exception {
        try (InputStream in = getClass().getResourceAsStream("sandbox-before-split.json")) {
            return in.readAllBytes();
        }
    }

    private SandboxStore storeWithOldRecord() throws Exception {
        Path dir = Files.createDirectories(root.resolve(ID));
        Files.write(dir.resolve(SandboxStore.FILE), oldRecord());
        return new SandboxStore(root);
    }

    @Test
    void aRecordWrittenBeforeTheSplitLoadsWithEveryField() throws Exception {
        SandboxStore store = storeWithOldRecord();
        List<Sandbox> loaded = store.load();
        assertEquals(1, loaded.size());
        Sandbox s = loaded.getFirst();
        assertEquals(ID, s.id());
        assertEquals("web_default_uid-1_2", s.reservedName());
        assertEquals(1733530000123456789L, s.createdAtNanos());
        assertFalse(s.hostNetwork());
        assertFalse(s.hostIpc());
        assertEquals(Sandbox.PidMode.POD, s.pidMode());
        assertEquals(Path.of("/run/coracle/pods/0123"), s.podDir());
        assertEquals(Path.of("/run/coracle/netns/cni-0123"), s.netnsPath());
        assertEquals("/kubepods/pod-uid-1", s.cgroupParent());
        assertEquals("/kubepods/pod-uid-1/pause", s.pauseCgroup());
        assertEquals("/kubepods/pod-uid-1", s.cgroupCreatedFrom());
        assertEquals("/var/log/pods/web", s.logDirectory());
        assertEquals("runc", s.runtimeHandler());
        assertEquals("web-0", s.podConfig().getHostname());
        assertEquals(Sandbox.State.READY, s.state());
        assertEquals(4242, s.pausePid());
        assertEquals(987654321L, s.pauseStartTime());
        assertEquals("10.88.0.7", s.ip());
        assertEquals(List.of("fd00::7"), s.additionalIps());
        assertTrue(s.networkAttached());
        assertEquals("{\"name\":\"coracle\"}", s.cniNetwork());
        assertEquals("{\"cniVersion\":\"1.0.0\"}", s.cniResult());
        assertEquals(s, store.find("0123").orElseThrow());
    }

    @Test
    void anUpdateKeepsTheMetadataAndIsWrittenInTheFlatLayout() throws Exception {
        SandboxStore store = storeWithOldRecord();
        Sandbox s = store.load().getFirst();
        Sandbox stopped = s.withNetworkDetached().withState(Sandbox.State.NOTREADY);
        assertSame(s.metadata(), stopped.metadata());
        store.put(stopped, false);

        JsonNode before = JSON.readTree(oldRecord());
        JsonNode after = JSON.readTree(root.resolve(ID).resolve(SandboxStore.FILE).toFile());
        List<String> names = new ArrayList<>();
        after.fieldNames().forEachRemaining(names::add);
        List<String> old = new ArrayList<>();
        before.fieldNames().forEachRemaining(old::add);
        assertEquals(old.stream().sorted().toList(), names.stream().sorted().toList(), "the same flat keys, no nesting");
        before.fieldNames().forEachRemaining(k -> {
            if (!k.equals("state") && !k.equals("networkAttached")) {
                assertEquals(before.get(k), after.get(k), k);
            }
        });
        assertEquals("NOTREADY", after.get("state").asText());
        assertFalse(after.get("networkAttached").asBoolean());

        Sandbox back = new SandboxStore(root).load().getFirst();
        assertEquals(stopped.status(), back.status());
        assertArrayEquals(s.config(), back.config());
        assertEquals(s.podDir(), back.podDir());
        assertEquals(s.reservedName(), back.reservedName());
    }
}
