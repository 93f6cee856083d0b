package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.oci.Mount;
import io.coracle.sys.HostSecurity;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Recursive read-only binds (rro) and the LSM labels as the shim applies them: a bind whose host
 * path holds submounts, written to from inside; the exact bytes and files the shim writes for an
 * AppArmor profile or an SELinux label (coracle-shim lsm-plan, the planner production uses); and,
 * on this host without AppArmor or SELinux, a label that cannot be applied stops the container
 * before its program runs.
 */
class ShimConfinementTest extends BusyboxRootfsTests {

    private static List<String> sh(String script) {
        return List.of("sh", "-c", script);
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }

    /** A host directory with a tmpfs at sub/ and another at sub/deeper/, unmounted and removed by close. */
    private static final class HostTree implements AutoCloseable {
        final Path dir;

        HostTree() throws Exception {
            dir = Files.createTempDirectory(Path.of("/tmp"), "coracle-rro-");
            Files.writeString(dir.resolve("top.txt"), "top\n");
            Path sub = Files.createDirectories(dir.resolve("sub"));
            run("mount", "-t", "tmpfs", "-o", "size=1m", "rro-sub", sub.toString());
            Path deeper = Files.createDirectories(sub.resolve("deeper"));
            run("mount", "-t", "tmpfs", "-o", "size=1m", "rro-deeper", deeper.toString());
        }

        @Override
        public void close() throws Exception {
            run("umount", dir.resolve("sub/deeper").toString());
            run("umount", dir.resolve("sub").toString());
            io.coracle.testing.DaemonProcess.deleteTree(dir);
        }
    }

    private static final String PROBE = "for f in /mnt/f /mnt/sub/f /mnt/sub/deeper/f; do "
            + "if touch $f 2>/tmp/err; then echo \"$f written\"; else echo \"$f $(cat /tmp/err | grep -o 'Read-only file system')\"; fi; done";

    @Test
    void aRecursiveReadOnlyBindRefusesWritesInEverySubmount() throws Exception {
        try (HostTree tree = new HostTree(); TestContainer c = new TestContainer(lower)) {
            c.extraMounts.add(new Mount("/mnt", "bind", tree.dir.toString(), List.of("rbind", "ro", "rro", "rprivate")));
            c.args = sh(PROBE);
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("/mnt/f Read-only file system\n/mnt/sub/f Read-only file system\n"
                    + "/mnt/sub/deeper/f Read-only file system\n", c.output("stdout"));
            // The host's own mounts stay writable: mount_setattr changed the container's copies only.
            Files.writeString(tree.dir.resolve("sub/deeper/host.txt"), "still rw\n");
            assertFalse(Files.exists(tree.dir.resolve("sub/f")));
            assertTrue(Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                    .filter(l -> l.contains(tree.dir.toString())).allMatch(l -> l.split(" ")[5].startsWith("rw")));
        }
    }

    @Test
    void aPlainReadOnlyBindLeavesItsSubmountsWritableAsContainerdDoes() throws Exception {
        try (HostTree tree = new HostTree(); TestContainer c = new TestContainer(lower)) {
            c.extraMounts.add(new Mount("/mnt", "bind", tree.dir.toString(), List.of("rbind", "ro", "rprivate")));
            c.args = sh(PROBE);
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("/mnt/f Read-only file system\n/mnt/sub/f written\n/mnt/sub/deeper/f written\n",
                    c.output("stdout"));
            assertTrue(Files.exists(tree.dir.resolve("sub/deeper/f")));
        }
    }

    @Test
    void theContainerCannotMakeARecursiveReadOnlyBindWritableAgain() throws Exception {
        try (HostTree tree = new HostTree(); TestContainer c = new TestContainer(lower)) {
            c.extraMounts.add(new Mount("/mnt", "bind", tree.dir.toString(), List.of("rbind", "ro", "rro", "rprivate")));
            // Without CAP_SYS_ADMIN no remount is allowed; the writes still fail after the attempts.
            c.args = sh("mount -o remount,rw /mnt/sub 2>/dev/null && echo remounted; "
                    + "umount /mnt/sub/deeper 2>/dev/null && echo unmounted; " + PROBE);
            assertEquals(0, c.run().exitCode(), c.logText());
            assertEquals("/mnt/f Read-only file system\n/mnt/sub/f Read-only file system\n"
                    + "/mnt/sub/deeper/f Read-only file system\n", c.output("stdout"));
        }
    }

    @Test
    void theProbeSaysWhatThisHostHas() {
        HostSecurity s = HostSecurity.probe(TestContainer.PROGRAMS);
        assertTrue(s.recursiveReadOnly(), "mount_setattr works on this kernel: " + s);
        // This machine's kernel (its LSMs: lockdown, capability, landlock, bpf) has neither AppArmor nor SELinux.
        assertFalse(s.apparmor(), s.toString());
        assertEquals("disabled", s.selinux());
        assertTrue(s.lsms().contains("capability"), s.toString());
        assertFalse(s.lsms().contains("apparmor"), s.toString());
    }

    /** What coracle-shim lsm-plan prints for a process object: "PATH HEXBYTES" lines, or the exit status and error. */
    private static String plan(String processJson, String layout) throws Exception {
        Path f = Files.createTempFile("lsm-plan-", ".json");
        try {
            Files.writeString(f, processJson);
            Process p = new ProcessBuilder(TestContainer.PROGRAMS.shim().toString(), "lsm-plan", "--process", f.toString(),
                    "--layout", layout).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int code = p.waitFor();
            return code == 0 ? out : "exit " + code + ": " + out;
        } finally {
            Files.delete(f);
        }
    }

    private static String write(String path, String bytes) {
        return path + " " + HexFormat.of().formatHex(bytes.getBytes(StandardCharsets.UTF_8)) + "\n";
    }

    @Test
    void theShimWritesExactlyTheLabelCommandsRuncWrites() throws Exception {
        assertEquals(write("/proc/thread-self/attr/apparmor/exec", "exec coracle-default"),
                plan("{\"apparmorProfile\":\"coracle-default\"}", "apparmor"));
        assertEquals(write("/proc/thread-self/attr/exec", "exec coracle-default"),
                plan("{\"apparmorProfile\":\"coracle-default\"}", "shared"), "kernels before 5.8");
        assertEquals(write("/proc/thread-self/attr/exec", "system_u:system_r:container_t:s0:c1,c2"),
                plan("{\"selinuxLabel\":\"system_u:system_r:container_t:s0:c1,c2\"}", "shared"));
        assertEquals(write("/proc/thread-self/attr/apparmor/exec", "exec my-profile")
                        + write("/proc/thread-self/attr/exec", "system_u:system_r:container_t:s0"),
                plan("{\"apparmorProfile\":\"my-profile\",\"selinuxLabel\":\"system_u:system_r:container_t:s0\"}",
                        "apparmor"));
        assertEquals("", plan("{\"apparmorProfile\":\"\"}", "apparmor"), "no label: nothing written");
        assertEquals("", plan("{}", "apparmor"));
    }

    @Test
    void aLabelThatWouldSmuggleAnotherCommandIsRefused() throws Exception {
        // "exec a\nchangeprofile b" would be two commands to AppArmor.
        String newline = plan("{\"apparmorProfile\":\"a\\nchangeprofile unconfined\"}", "apparmor");
        assertTrue(newline.startsWith("exit 65: ") && newline.contains("control character"), newline);
        assertTrue(plan("{\"selinuxLabel\":\"a\\u0000b\"}", "shared").startsWith("exit 65: "));
        assertTrue(plan("{\"apparmorProfile\":7}", "apparmor").contains("not a string"));
        String both = plan("{\"apparmorProfile\":\"a\",\"selinuxLabel\":\"b\"}", "shared");
        assertTrue(both.startsWith("exit 65: ") && both.contains("both need"), both);
    }

    @Test
    void withoutTheLsmALabelStopsTheContainerBeforeItsProgramRuns() throws Exception {
        for (String lsm : List.of("apparmor", "selinux")) {
            try (TestContainer c = new TestContainer(lower)) {
                Path marker = c.dir.resolve("ran");
                c.extraMounts.add(new Mount("/out", "bind", c.dir.toString(), List.of("rbind", "rw")));
                c.args = sh("touch /out/ran");
                if (lsm.equals("apparmor")) {
                    c.apparmorProfile = "coracle-default";
                } else {
                    c.selinuxLabel = "system_u:system_r:container_t:s0";
                }
                ShimClient client = c.create();
                ShimException e = assertThrows(ShimException.class, client::start);
                assertTrue(e.getMessage().contains(lsm.equals("apparmor") ? "apply the AppArmor profile \"coracle-default\""
                        : "apply the SELinux label"), e.getMessage());
                client.awaitExit(Duration.ofSeconds(5)).orElseThrow();
                assertFalse(Files.exists(marker), lsm + ": the program ran unconfined");
            }
        }
    }

    @Test
    void anSelinuxMountLabelThatTheKernelCannotApplyFailsTheCreate() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.mountLabel = "system_u:object_r:container_file_t:s0:c1,c2";
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("tmpfs"), e.getMessage());
        }
        try (TestContainer c = new TestContainer(lower)) {
            c.mountLabel = "a\"b";
            ShimException e = assertThrows(ShimException.class, c::create);
            assertTrue(e.getMessage().contains("linux.mountLabel"), e.getMessage());
        }
    }
}
