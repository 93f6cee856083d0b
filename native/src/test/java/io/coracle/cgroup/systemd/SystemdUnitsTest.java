package io.coracle.cgroup.systemd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.oci.Resources;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The unit properties the systemd driver sends, and its refusal to work without systemd. */
class SystemdUnitsTest {

    private static Map<String, String> props(Resources r, boolean v2) {
        Map<String, String> out = new LinkedHashMap<>();
        for (ManagerBus.Property p : SystemdUnits.limits(r, v2)) {
            Object v = p.value.getValue();
            out.put(p.name, (v instanceof byte[] b ? java.util.HexFormat.of().formatHex(b) : String.valueOf(v))
                    + ":" + p.value.getSig());
        }
        return out;
    }

    @Test
    void cgroupV2LimitsBecomeSystemdProperties() {
        Resources r = new Resources(new Resources.Memory(64L << 20, null, 96L << 20),
                new Resources.Cpu(512L, 50_000L, 100_000L, "0-2,9", "0"), new Resources.Pids(100), null, null);
        assertEquals(Map.of(
                "MemoryMax", "67108864:t",
                "MemorySwapMax", "33554432:t",
                "CPUWeight", "20:t", // runc's 1 + (shares - 2) * 9999 / 262142, as the shim writes cpu.weight
                "CPUQuotaPerSecUSec", "500000:t",
                "CPUQuotaPeriodUSec", "100000:t",
                "AllowedCPUs", "0702:ay", // CPUs 0,1,2 in byte 0, CPU 9 in bit 1 of byte 1
                "AllowedMemoryNodes", "01:ay",
                "TasksMax", "100:t"), props(r, true));
    }

    @Test
    void cgroupV1UsesTheV1NamesAndNoCpuset() {
        Resources r = new Resources(new Resources.Memory(1L << 30, null, null),
                new Resources.Cpu(1024L, null, null, "0", null), null, null, null);
        assertEquals(Map.of("MemoryLimit", "1073741824:t", "CPUShares", "1024:t"), props(r, false));
    }

    @Test
    void unlimitedIsInfinityAndQuotaRoundsUpToTenMilliseconds() {
        Resources r = new Resources(new Resources.Memory(-1L, null, -1L),
                new Resources.Cpu(null, 12_345L, 100_000L, null, null), new Resources.Pids(-1), null, null);
        Map<String, String> p = props(r, true);
        assertEquals("18446744073709551615:t", p.get("MemoryMax"));
        assertEquals("18446744073709551615:t", p.get("MemorySwapMax"));
        assertEquals("18446744073709551615:t", p.get("TasksMax"));
        assertEquals("130000:t", p.get("CPUQuotaPerSecUSec")); // 123450 µs/s rounded up to systemd's 10 ms steps
        assertEquals(Map.of(), props(null, true));
        assertEquals(Map.of(), props(new Resources(null, null, null, null, null), true));
    }

    @Test
    void cpuMasksAreLittleEndianBitsAndHostileListsAreRefused() {
        assertArrayEquals(new byte[] {1}, SystemdUnits.cpuMask("0"));
        assertArrayEquals(new byte[] {(byte) 0x80, 1}, SystemdUnits.cpuMask("7-8"));
        assertEquals(1024, SystemdUnits.cpuMask("8191").length);
        for (String bad : new String[] {"8192", "3-1", "a", "0-", "-1", "0,,1", "1-2-3", "99999999999", "0 1", ""}) {
            assertThrows(IllegalArgumentException.class, () -> SystemdUnits.cpuMask(bad), bad);
        }
    }

    @Test
    void slicesNameTheirParents() {
        assertEquals("kubepods-burstable.slice", SystemdUnits.parentSlice("kubepods-burstable-pod1.slice"));
        assertEquals("-.slice", SystemdUnits.parentSlice("kubepods.slice"));
        assertEquals("coracle.slice", SystemdUnits.parentSlice("coracle-podabc.slice"));
    }

    @Test
    void busAddressesEscapeWhatDBusReserves() {
        assertEquals("/run/dbus/system_bus_socket", SystemdUnits.addressValue("/run/dbus/system_bus_socket"));
        assertEquals("/tmp/a%2cb%3dc%3bd%20e", SystemdUnits.addressValue("/tmp/a,b=c;d e"));
    }

    @Test
    void noBusSocketIsRefusedWithTheReason(@TempDir Path dir) {
        IOException e = assertThrows(IOException.class, () -> SystemdUnits.connect(dir.resolve("none"), true));
        assertTrue(e.getMessage().contains(dir.resolve("none") + " does not exist"), e.getMessage());
    }

    @Test
    void aSocketWhereNoBusAnswersIsRefusedInBoundedTime(@TempDir Path dir) throws Exception {
        // Something listens but never speaks D-Bus: the connection fails within the timeout, never hangs.
        Path sock = dir.resolve("bus");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            long t0 = System.nanoTime();
            IOException e = assertThrows(IOException.class, () -> SystemdUnits.connect(sock, true));
            assertTrue(e.getMessage().contains("cannot connect to the system bus at " + sock + ": no D-Bus answer within"),
                    e.getMessage());
            assertTrue(System.nanoTime() - t0 < SystemdUnits.CONNECT_TIMEOUT.toNanos() + 5_000_000_000L);
        }
    }
}
