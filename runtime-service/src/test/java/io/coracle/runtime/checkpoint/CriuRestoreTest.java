package io.coracle.runtime.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.CriError;
import io.coracle.oci.Linux;
import io.coracle.oci.Mount;
import io.coracle.oci.Spec;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The plan coracle-shim runs for criu restore, from the dumped spec and the new container's. */
class CriuRestoreTest {
    private static Spec spec(List<Mount> mounts, List<Linux.Namespace> ns, List<String> masked) {
        return new Spec(Spec.VERSION, null, null, "h", mounts, null,
                new Linux(ns, "/coracle/pod/c", null, null, null, masked, null, null, null));
    }

    private static final List<Linux.Namespace> POD_OLD = List.of(new Linux.Namespace("network", "/proc/10/ns/net"),
            new Linux.Namespace("ipc", "/proc/10/ns/ipc"), new Linux.Namespace("uts", "/proc/10/ns/uts"),
            new Linux.Namespace("pid", null), new Linux.Namespace("mount", null));
    private static final List<Linux.Namespace> POD_NEW = List.of(new Linux.Namespace("network", "/run/p2/netns"),
            new Linux.Namespace("ipc", "/proc/20/ns/ipc"), new Linux.Namespace("uts", "/proc/20/ns/uts"),
            new Linux.Namespace("pid", null), new Linux.Namespace("mount", null));

    private static CriuRestore.Request request(Spec dumped, Spec spec, List<String> descriptors) {
        return new CriuRestore.Request(Path.of("/opt/criu/criu"), Path.of("/c/restore/checkpoint"), Path.of("/c/restore"),
                Path.of("/c/bundle/rootfs"), dumped, descriptors, spec, Path.of("/c/restore/empty"));
    }

    @Test
    void stdioPodNamespacesAndMountsComeFromTheNewContainer() {
        Spec dumped = spec(List.of(new Mount("/etc/hosts", "bind", "/run/p1/hosts", List.of("rbind")),
                new Mount("/proc", "proc", "proc", List.of())), POD_OLD, List.of("/proc/kcore", "/proc/acpi"));
        Spec fresh = spec(List.of(new Mount("/etc/hosts", "bind", "/run/p2/hosts", List.of("rbind"))), POD_NEW, List.of());
        String plan = CriuRestore.plan(request(dumped, fresh, List.of("/dev/null", "pipe:[111]", "pipe:[222]")));
        List<String> lines = List.of(plan.split("\n"));
        assertEquals("criu /opt/criu/criu", lines.get(0));
        assertTrue(lines.contains("fd 6 /run/p2/netns"), plan);
        assertFalse(plan.contains("fd 7"), "the PID namespace is the container's own: restored, not joined");
        for (String arg : List.of("restore", "--restore-detached", "--restore-sibling", "--leave-stopped",
                "--manage-cgroups=ignore",
                "--root", "/c/bundle/rootfs", "fd[4]:pipe:[111]", "fd[5]:pipe:[222]", "fd[6]:extern-net",
                "ipc:/proc/20/ns/ipc", "uts:/proc/20/ns/uts", "mnt[/etc/hosts]:/run/p2/hosts", "mnt[/proc/kcore]:/dev/null",
                "mnt[/proc/acpi]:/c/restore/empty")) {
            assertTrue(lines.contains("arg " + arg), arg + " in\n" + plan);
        }
        assertFalse(plan.contains("/dev/null\narg --inherit"), plan);
        assertFalse(plan.contains("/run/p1"), "nothing of the old pod");
    }

    @Test
    void aMountTheNewRequestLacksIsInvalid() {
        Spec dumped = spec(List.of(new Mount("/data", "bind", "/var/data", List.of("rbind"))), POD_OLD, List.of());
        CriError e = assertThrows(CriError.class, () -> CriuRestore.plan(request(dumped, spec(List.of(), POD_NEW,
                List.of()), List.of())));
        assertEquals(CriError.Kind.INVALID, e.kind());
        assertTrue(e.getMessage().contains("/data"), e.getMessage());
    }

    @Test
    void hostileDescriptorsAndDestinationsNeverBecomePlanLines() {
        Spec dumped = spec(List.of(new Mount("/x\narg --action-script=/tmp/evil", "bind", "/a", List.of("rbind"))),
                POD_OLD, List.of());
        Spec fresh = spec(List.of(new Mount("/x\narg --action-script=/tmp/evil", "bind", "/a", List.of("rbind"))),
                POD_NEW, List.of());
        assertThrows(CriError.class, () -> CriuRestore.plan(request(dumped, fresh, List.of())));
        String plan = CriuRestore.plan(request(spec(List.of(), POD_OLD, List.of()), spec(List.of(), POD_NEW, List.of()),
                List.of("pipe:[1]\narg --action-script=/tmp/evil", "pipe:[1]]", "pipe:[12]")));
        assertFalse(plan.contains("action-script"), plan);
        assertTrue(plan.contains("arg fd[5]:pipe:[12]\n"), plan);
        assertEquals(2, plan.split("--inherit-fd").length - 1, "only the pipe and the netns: " + plan);
    }

    @Test
    void aCheckpointOfTheHostsNamespacesIsNeverRestoredIntoAPodThatHasItsOwn() {
        for (String type : List.of("network", "pid", "ipc", "uts", "mount")) {
            List<Linux.Namespace> hostOne = POD_OLD.stream().filter(n -> !n.type().equals(type)).toList();
            CriError e = assertThrows(CriError.class, () -> CriuRestore.plan(request(spec(List.of(), hostOne, List.of()),
                    spec(List.of(), POD_NEW, List.of()), List.of())), type);
            assertEquals(CriError.Kind.INVALID, e.kind());
            assertTrue(e.getMessage().contains("host's " + type + " namespace"), e.getMessage());
        }
    }
}
