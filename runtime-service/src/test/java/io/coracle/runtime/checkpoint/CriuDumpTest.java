package io.coracle.runtime.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.oci.Linux;
import io.coracle.oci.Mount;
import io.coracle.oci.Spec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The criu dump command line for a container of Coracle's shim, from its spec. */
class CriuDumpTest {
    @TempDir
    Path tmp;

    @Test
    void podNamespacesBindsAndMasksAreExternal() throws Exception {
        int self = (int) ProcessHandle.current().pid();
        Spec spec = new Spec(Spec.VERSION, null, null, "h", List.of(
                new Mount("/proc", "proc", "proc", List.of("nosuid")),
                new Mount("/etc/hosts", "bind", "/run/coracle/pods/p/hosts", List.of("rbind", "ro")),
                new Mount("/data", null, "/var/lib/data", List.of("bind"))),
                null, new Linux(List.of(new Linux.Namespace("network", "/proc/1/ns/net"), new Linux.Namespace("ipc", "/x"),
                        new Linux.Namespace("pid", null), new Linux.Namespace("mount", null)),
                        "/coracle/pod/c", null, null, null, List.of("/proc/kcore"), null, null, null));
        Path freezer = Files.createDirectories(tmp.resolve("freezer"));
        List<String> c = CriuDump.command(new CriuDump.Request(Path.of("/usr/sbin/criu"), self, spec, freezer,
                tmp.resolve("img"), tmp, Duration.ofSeconds(60)));
        String line = String.join(" ", c);
        assertEquals(List.of("/usr/sbin/criu", "dump", "--tree", String.valueOf(self)), c.subList(0, 4));
        assertTrue(line.contains("--leave-running"), line);
        assertTrue(line.contains("--manage-cgroups"), line);
        assertTrue(line.contains("--freeze-cgroup " + freezer), line);
        long netns = Long.parseLong(Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString().replaceAll("\\D", ""));
        assertTrue(line.contains("--external net[" + netns + "]:extern-net"), line);
        assertFalse(line.contains("pid["), "a private PID namespace is dumped with the tree: " + line);
        assertTrue(line.contains("--external mnt[/etc/hosts]:/etc/hosts"), line);
        assertTrue(line.contains("--external mnt[/data]:/data"), line);
        assertTrue(line.contains("--external mnt[/proc/kcore]:/proc/kcore"), line);
        assertFalse(line.contains("mnt[/proc]"), line);
    }
}
