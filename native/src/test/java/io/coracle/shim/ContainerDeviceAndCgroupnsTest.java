package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cgroup.Cgroups;
import io.coracle.oci.Mount;
import io.coracle.oci.Resources;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Containers made by the shim on this node's layout (v1 devices controller, or the eBPF program on
 * cgroup v2): what their root can do with device nodes, the device rules replaced by an update,
 * and the cgroup namespace.
 */
@Tag("cgroup")
class ContainerDeviceAndCgroupnsTest extends BusyboxRootfsTests {

    private static List<String> sh(String script) {
        return List.of("sh", "-c", script);
    }

    /** DeviceStep's defaults (runtime-service), as rules. */
    static List<Resources.DeviceRule> defaults() {
        List<Resources.DeviceRule> rules = new ArrayList<>();
        for (String r : DeviceControlTest.DEFAULTS) {
            String[] f = r.split(" ");
            rules.add(new Resources.DeviceRule(f[0].equals("allow"), f[1], f[2].equals("*") ? null : Long.valueOf(f[2]),
                    f[3].equals("*") ? null : Long.valueOf(f[3]), f[4]));
        }
        return rules;
    }

    private static TestContainer withMknod(TestContainer c) {
        c.caps = io.coracle.oci.Process.Capabilities.of(List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_SETGID", "CAP_SETUID", "CAP_SYS_RAWIO"));
        return c;
    }

    @Test
    void aContainersRootCannotOpenTheHostsDiskOrMemory() throws Exception {
        String[] disk = DeviceControlTest.hostDisk().split(" ");
        try (TestContainer c = withMknod(new TestContainer(lower))) {
            c.resources = new Resources(null, null, null, null, defaults());
            // /dev is the container's tmpfs (no nodev): only the device rules stand in the way.
            c.args = sh("t() { if out=$(sh -c \"$2\" 2>&1); then echo \"$1 ok\"; else case $out in *'not permitted'*) echo \"$1 EPERM\";;"
                    + " *) echo \"$1 other $out\";; esac; fi; }\n"
                    + "t mknod-disk 'mknod /dev/hostdisk b " + disk[0] + " " + disk[1] + "'\n"
                    + "t read-disk 'head -c 512 /dev/hostdisk > /dev/null'\n"
                    + "t write-disk ': >> /dev/hostdisk'\n"
                    + "t mknod-mem 'mknod /dev/mem c 1 1'\n"
                    + "t read-mem 'head -c 1 /dev/mem > /dev/null'\n"
                    + "t write-mem ': <> /dev/mem'\n"
                    + "t read-zero 'head -c 1 /dev/zero > /dev/null'\n"
                    + "t write-null 'echo x > /dev/null'\n");
            ExitRecord exit = c.run();
            assertEquals(0, exit.exitCode(), c.logText());
            assertEquals("""
                    mknod-disk ok
                    read-disk EPERM
                    write-disk EPERM
                    mknod-mem ok
                    read-mem EPERM
                    write-mem EPERM
                    read-zero ok
                    write-null ok
                    """, c.output("stdout"), c.logText());
        }
    }

    @Test
    void anUpdateReplacesTheDeviceRulesOfARunningContainer() throws Exception {
        try (TestContainer c = new TestContainer(lower)) {
            c.resources = new Resources(null, null, null, null, List.of(
                    new Resources.DeviceRule(false, "a", null, null, "rwm"),
                    new Resources.DeviceRule(true, "c", 1L, 3L, "rwm")));
            c.args = sh("if head -c 1 /dev/zero > /dev/null 2>&1; then echo zero-at-start; else echo zero-denied; fi\n"
                    + "for i in $(seq 1 300); do if head -c 1 /dev/zero > /dev/null 2>&1; then echo zero-ok; exit 0; fi;"
                    + " sleep 0.05; done; echo never; exit 1");
            ShimClient client = c.create();
            client.start();
            // The first try must have happened (and failed) before the update: a slow node may be slow to run it.
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!c.output("stdout").contains("zero-")) {
                assertTrue(System.nanoTime() < deadline, "the container never tried /dev/zero: " + c.logText());
                Thread.sleep(20);
            }
            assertEquals("zero-denied\n", c.output("stdout"), c.logText());
            client.update(new Resources(null, null, null, null, List.of(
                    new Resources.DeviceRule(false, "a", null, null, "rwm"),
                    new Resources.DeviceRule(true, "c", 1L, 3L, "rwm"),
                    new Resources.DeviceRule(true, "c", 1L, 5L, "r"))));
            ExitRecord exit = client.awaitExit(Duration.ofSeconds(20)).orElseThrow();
            assertEquals(0, exit.exitCode(), c.logText());
            assertEquals("zero-denied\nzero-ok\n", c.output("stdout"), c.logText());

        }
    }

    @Test
    void deviceRulesTheNodeCannotEnforceRefuseTheContainer() throws Exception {
        // Out of range (written past the Java model's own check): refused by the shim, on v1 and v2.
        try (TestContainer c = new TestContainer(lower)) {
            c.resources = new Resources(null, null, null, null, List.of(
                    new Resources.DeviceRule(false, "a", null, null, "rwm"),
                    new Resources.DeviceRule(true, "b", 4294967295L, null, "rwm")));
            io.coracle.oci.OciJson.writeConfig(c.bundle, c.spec());
            Path config = c.bundle.resolve("config.json");
            Files.writeString(config, Files.readString(config).replace("4294967295", "4294967296"));
            ShimException e = org.junit.jupiter.api.Assertions.assertThrows(ShimException.class, () -> new ShimLauncher(
                    TestContainer.PROGRAMS).create(new CreateRequest(c.bundle, c.state, c.log, false), Duration.ofSeconds(10)));
            assertTrue(e.getMessage().contains("linux.resources.devices[1].major: 4294967296 is not a device number"),
                    e.getMessage());
            assertEquals(ShimException.ErrorClass.INVALID, e.errorClass());
        }
        if (!Cgroups.detect().v2()) {
            // A deny inside a wider allow, which v1 cannot enforce: refused, never run with the device open.
            try (TestContainer c = new TestContainer(lower)) {
                c.resources = new Resources(null, null, null, null, List.of(
                        new Resources.DeviceRule(false, "a", null, null, "rwm"),
                        new Resources.DeviceRule(true, "c", 1L, null, "rwm"),
                        new Resources.DeviceRule(false, "c", 1L, 1L, "rwm")));
                ShimException e = org.junit.jupiter.api.Assertions.assertThrows(ShimException.class, c::create);
                assertTrue(e.getMessage().contains("cannot be enforced by the cgroup v1 devices controller"), e.getMessage());
                assertEquals(ShimException.ErrorClass.INVALID, e.errorClass());
            }
        }
    }

    @Test
    void aCgroupNamespaceIsRootedAtTheContainersOwnCgroup() throws Exception {
        boolean v2 = Cgroups.detect().v2();
        try (TestContainer c = new TestContainer(lower)) {
            c.namespaces.add(TestContainer.ns("cgroup"));
            String script = "cat /proc/self/cgroup";
            if (v2) {
                c.extraMounts.add(new Mount("/sys/fs/cgroup", "cgroup2", "cgroup", List.of("nosuid", "noexec", "nodev", "ro")));
                script += "; echo procs $(cat /sys/fs/cgroup/cgroup.procs | head -n 1); echo dirs $(ls /sys/fs/cgroup | grep -v '\\.')"
                        + "; mkdir /sys/fs/cgroup/escape 2>&1 | grep -o 'Read-only file system'";
            }
            c.args = sh(script);
            ExitRecord exit = c.run();
            assertEquals(0, exit.exitCode(), c.logText());
            String out = c.output("stdout");
            for (String line : out.split("\n")) {
                if (line.matches("\\d+:.*")) {
                    assertTrue(line.endsWith(":/"), "every hierarchy's root is the container's cgroup: " + out);
                }
            }
            assertFalse(out.contains(c.cgroup), out);
            if (v2) {
                assertTrue(out.contains("procs 1\n"), out); // the container's PID 1: its own cgroup's processes
                assertTrue(out.contains("dirs\n"), "no cgroup of the host is visible: " + out);
                assertTrue(out.contains("Read-only file system"), out);
            }
        }
    }

    @Test
    void withoutACgroupNamespaceTheContainerSeesItsPathOnTheHost() throws Exception {
        // What a privileged container gets (the host's cgroup namespace, as the peers give it).
        try (TestContainer c = new TestContainer(lower)) {
            c.args = sh("cat /proc/self/cgroup");
            assertEquals(0, c.run().exitCode(), c.logText());
            assertTrue(c.output("stdout").contains("/" + c.cgroup), c.output("stdout"));
        }
    }
}
