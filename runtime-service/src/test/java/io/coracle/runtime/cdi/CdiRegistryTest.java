package io.coracle.runtime.cdi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.CDIDevice;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.oci.Hook;
import io.coracle.runtime.spec.InvalidContainerConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Spec files to edits: the directory order, conflicts, the names a container may ask for, what is refused. */
class CdiRegistryTest {
    @TempDir
    Path tmp;

    private static String spec(String kind, String device, String edits) {
        return """
                {"cdiVersion": "0.5.0", "kind": "%s", "devices": [{"name": "%s", "containerEdits": %s}]}"""
                .formatted(kind, device, edits);
    }

    @Test
    void aLaterDirectoryOverridesAnEarlierOneAndTwoFilesOfOneDirectoryConflict() throws Exception {
        Path a = Files.createDirectories(tmp.resolve("a")), b = Files.createDirectories(tmp.resolve("b"));
        Files.writeString(a.resolve("x.json"), spec("v.io/c", "d", "{\"env\": [\"WHO=a\"]}"));
        Files.writeString(b.resolve("x.json"), spec("v.io/c", "d", "{\"env\": [\"WHO=b\"]}"));
        CdiRegistry r = new CdiRegistry(List.of(a, b));
        assertEquals(List.of("WHO=b"), r.resolve(List.of("v.io/c=d")).env());
        assertEquals(List.of("WHO=a"), new CdiRegistry(List.of(b, a)).resolve(List.of("v.io/c=d")).env());
        Files.writeString(b.resolve("y.yaml"), "cdiVersion: 0.5.0\nkind: v.io/c\ndevices: [{name: d}]\n");
        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                () -> r.resolve(List.of("v.io/c=d")));
        assertTrue(e.getMessage().startsWith("unresolvable CDI devices v.io/c=d") && e.getMessage().contains("is defined by both"),
                e.getMessage());
    }

    @Test
    void specAndDeviceEditsBecomeOneSetOfEdits() throws Exception {
        Files.writeString(tmp.resolve("s.yaml"), """
                cdiVersion: 1.0.0
                kind: vendor.example/gpu
                containerEdits:
                  env: [SPEC=1]
                  additionalGIDs: [44]
                devices:
                - name: "0"
                  containerEdits:
                    env: [DEV=0]
                    deviceNodes: [{path: /dev/gpu0, type: c, major: 195, minor: 0, permissions: rw, uid: 5}]
                    hooks: [{hookName: createContainer, path: /usr/bin/hook, args: [hook, x]}]
                - name: "1"
                  containerEdits:
                    env: [DEV=1]
                    additionalGIDs: [44, 45]
                """);
        CdiEdits e = new CdiRegistry(List.of(tmp)).resolve(List.of("vendor.example/gpu=0", "vendor.example/gpu=1"));
        assertEquals(List.of("SPEC=1", "DEV=0", "DEV=1"), e.env(), "the spec's edits once");
        assertEquals(List.of(44L, 45L), e.additionalGids());
        assertEquals("/dev/gpu0", e.devices().getFirst().path());
        assertEquals(195L, e.devices().getFirst().major());
        assertEquals(5L, e.devices().getFirst().uid());
        assertEquals("rw", e.deviceRules().getFirst().access());
        assertEquals(Map.of("createContainer", List.of(new Hook("/usr/bin/hook", List.of("hook", "x"), null, null))), e.hooks());
    }

    @Test
    void theNamesAContainerAsksForAreFullyQualified() throws Exception {
        ContainerConfig ok = ContainerConfig.newBuilder().addCDIDevices(CDIDevice.newBuilder().setName("a.io/b=c"))
                .putAnnotations("cdi.k8s.io/plugin_x", "a.io/b=d, a.io/b=c").putAnnotations("other", "x").build();
        assertEquals(List.of("a.io/b=c", "a.io/b=d"), CdiRegistry.requested(ok));
        for (String bad : List.of("", "a.io/b", "a.io=c", "/b=c", "a.io/b=", "a.io/b=c/d", "a.io/b=../x", "a io/b=c",
                "a.io/b=c\n", "1vendor/b=c")) {
            assertThrows(InvalidContainerConfigException.class, () -> CdiRegistry.requested(ContainerConfig.newBuilder()
                    .addCDIDevices(CDIDevice.newBuilder().setName(bad)).build()), bad);
        }
        assertThrows(InvalidContainerConfigException.class, () -> CdiRegistry.requested(ContainerConfig.newBuilder()
                .putAnnotations("cdi.k8s.io/../x", "a.io/b=c").build()));
    }

    @Test
    void editsOutsideTheirRangesRefuseTheFile() throws Exception {
        for (String edits : List.of(
                "{\"env\": [\"=x\"]}", "{\"env\": [\"NOEQUALS\"]}",
                "{\"deviceNodes\": [{\"path\": \"/etc/shadow\"}]}",
                "{\"deviceNodes\": [{\"path\": \"/dev/x\", \"hostPath\": \"rel\"}]}",
                "{\"deviceNodes\": [{\"path\": \"/dev/x\", \"type\": \"p\"}]}",
                "{\"deviceNodes\": [{\"path\": \"/dev/x\", \"major\": -1}]}",
                "{\"deviceNodes\": [{\"path\": \"/dev/x\", \"uid\": 4294967295}]}",
                "{\"deviceNodes\": [{\"path\": \"/dev/x\", \"fileMode\": 4095}]}",
                "{\"deviceNodes\": [{\"path\": \"/dev/x\", \"permissions\": \"rwx\"}]}",
                "{\"mounts\": [{\"hostPath\": \"/a\", \"containerPath\": \"/b\", \"options\": [\"x y\"]}]}",
                "{\"mounts\": [{\"hostPath\": \"/a\", \"containerPath\": \"/b\", \"type\": \"../t\"}]}",
                "{\"hooks\": [{\"hookName\": \"preStart\", \"path\": \"/bin/true\"}]}",
                "{\"hooks\": [{\"hookName\": \"poststop\", \"path\": \"bin/true\"}]}",
                "{\"hooks\": [{\"hookName\": \"poststop\", \"path\": \"/bin/true\", \"timeout\": 0}]}",
                "{\"additionalGIDs\": [-1]}")) {
            Path dir = Files.createTempDirectory(tmp, "d");
            Files.writeString(dir.resolve("s.json"), spec("v.io/c", "d", edits));
            InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                    () -> new CdiRegistry(List.of(dir)).resolve(List.of("v.io/c=d")), edits);
            assertTrue(e.getMessage().contains("s.json: "), edits + ": " + e.getMessage());
        }
    }

    @Test
    void onlyRegularFilesOfBoundedSizeAreRead() throws Exception {
        Path fifo = tmp.resolve("fifo.json");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class,
                () -> new CdiRegistry(List.of(tmp)).resolve(List.of("v.io/c=d")));
        assertTrue(e.getMessage().contains("fifo.json: not a regular file"), e.getMessage());
        assertTrue(new CdiRegistry(List.of(tmp.resolve("absent"))).load().devices().isEmpty());
    }
}
