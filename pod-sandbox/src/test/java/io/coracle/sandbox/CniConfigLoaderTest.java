package io.coracle.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Choosing the network from the conf dir, the embedded default, and sysctl name checks (no kernel needed). */
class CniConfigLoaderTest {
    @TempDir
    Path dir;

    private CniConfigLoader loader(String network) {
        return new CniConfigLoader(SandboxConfig.defaults(dir.resolve("state"), dir.resolve("root"),
                        Path.of("/x/coracle-pause"))
                .withCniBinDirs(List.of(Path.of("/usr/lib/cni"))).withCniNetworkName(network)
                .withCni(dir.resolve("net.d"), "crtestunit0", "10.200.77.0/24"));
    }

    @Test
    void theFirstFileInLexicalOrderIsTheNetworkAndASingleConfBecomesAList() throws IOException {
        Files.createDirectories(dir.resolve("net.d"));
        Files.writeString(dir.resolve("net.d/20-b.conflist"), "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"plugins\":[{\"type\":\"bridge\"}]}");
        Files.writeString(dir.resolve("net.d/10-a.conf"), "{\"cniVersion\":\"0.4.0\",\"name\":\"a\",\"type\":\"ptp\"}");
        Files.writeString(dir.resolve("net.d/05-ignored.txt"), "not a config");
        CniConfigLoader.NetworkList a = loader("").load();
        assertEquals("a", a.name());
        assertEquals("0.4.0", a.cniVersion());
        assertEquals(List.of("ptp"), a.plugins().stream().map(p -> p.get("type").asText()).toList());
        assertEquals("b", loader("b").load().name());
        IOException missing = assertThrows(IOException.class, () -> loader("c").load());
        assertTrue(missing.getMessage().contains("no network named 'c'"), missing.getMessage());
        assertFalse(loader("").writeDefaultIfEmpty());
    }

    @Test
    void aBrokenFirstFileIsAnErrorNotSkipped() throws IOException {
        Files.createDirectories(dir.resolve("net.d"));
        Files.writeString(dir.resolve("net.d/10-broken.conflist"), "{\"name\":\"x\",\"plugins\":[{}]}");
        Files.writeString(dir.resolve("net.d/20-ok.conflist"), "{\"cniVersion\":\"1.0.0\",\"name\":\"ok\",\"plugins\":[{\"type\":\"bridge\"}]}");
        IOException e = assertThrows(IOException.class, () -> loader("").load());
        assertTrue(e.getMessage().contains("10-broken.conflist"), e.getMessage());
    }

    @Test
    void anEmptyDirGetsTheEmbeddedBridgeDefault() throws IOException {
        CniConfigLoader l = loader("");
        assertThrows(IOException.class, l::load);
        assertTrue(l.writeDefaultIfEmpty());
        CniConfigLoader.NetworkList n = l.load();
        assertEquals("crtestunit0", n.name());
        assertEquals(List.of("bridge", "portmap"), n.plugins().stream().map(p -> p.get("type").asText()).toList());
        var bridge = n.plugins().getFirst();
        assertEquals("crtestunit0", bridge.get("bridge").asText());
        assertTrue(bridge.get("isGateway").asBoolean() && bridge.get("ipMasq").asBoolean());
        assertEquals("10.200.77.0/24", bridge.at("/ipam/ranges/0/0/subnet").asText());
        assertTrue(n.plugins().get(1).at("/capabilities/portMappings").asBoolean());
        // The stored form parses back to the same list (DEL uses it).
        assertEquals(n.plugins(), CniConfigLoader.NetworkList.parse(Path.of("x"), n.json()).plugins());
    }

    @Test
    void theDefaultIsReadableByAllAndNeverWrittenThroughAPlantedTempLink() throws IOException {
        Path netd = Files.createDirectories(dir.resolve("net.d"));
        Path victim = Files.writeString(dir.resolve("victim"), "keep");
        Files.createSymbolicLink(netd.resolve("." + CniConfigLoader.DEFAULT_FILE + ".tmp"), victim);
        assertTrue(loader("").writeDefaultIfEmpty());
        assertEquals("keep", Files.readString(victim));
        Path conf = netd.resolve(CniConfigLoader.DEFAULT_FILE);
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(conf)));
        Files.createSymbolicLink(netd.resolve("." + CniConfigLoader.DEFAULT_FILE + ".tmp"), victim);
        assertTrue(loader("").applyPodCidr("10.201.0.0/16"));
        assertEquals("keep", Files.readString(victim));
        assertEquals("10.201.0.0/16", loader("").load().plugins().getFirst().at("/ipam/ranges/0/0/subnet").asText());
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(conf)));
        try (var names = Files.list(netd)) {
            assertEquals(List.of(CniConfigLoader.DEFAULT_FILE), names.map(f -> f.getFileName().toString()).toList());
        }
    }

    @Test
    void podIpsComeFromInterfacesInsideThePodIpv4First() throws IOException {
        var result = new ObjectMapper().readTree("""
                {"interfaces":[{"name":"cni0"},{"name":"veth1"},{"name":"eth0","sandbox":"/run/netns/x"}],
                 "ips":[{"address":"fd00::5/64","interface":2},{"address":"10.1.0.5/24","interface":2},
                        {"address":"10.1.0.1/24","interface":0}]}""");
        assertEquals(List.of("10.1.0.5", "fd00::5"), CniNetwork.ips(result));
    }

    @Test
    void sysctlNamesWithSlashesAndNamespacing() {
        assertEquals(Map.of("net/ipv4/conf/eth0.100/forwarding", "1"),
                PodSysctls.validate(Map.of("net/ipv4/conf/eth0.100/forwarding", "1"), false, false));
        assertEquals(Map.of("kernel/shmmax", "1000", "fs/mqueue/msg_max", "20"),
                PodSysctls.validate(Map.of("kernel.shmmax", "1000", "fs.mqueue.msg_max", "20"), false, false));
        assertThrows(IllegalArgumentException.class, () -> PodSysctls.validate(Map.of("kernel.shmmax", "1"), false, true));
        assertThrows(IllegalArgumentException.class, () -> PodSysctls.validate(Map.of("vm.swappiness", "1"), false, false));
        assertThrows(IllegalArgumentException.class, () -> PodSysctls.validate(Map.of("net.core.somaxconn", "1\n2"), false, false));
    }
}
