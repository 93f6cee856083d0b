package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.sys.NativePrograms;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What lets a kill of the daemon's whole cgroup (systemd's stop of a control-group unit, a DaemonSet
 * roll) spare the containers, on cgroup v1, hybrid and v2 alike: a shim started inside the daemon's
 * cgroup (a wrapper puts it there, as the daemon's own child it would be) moves its monitor into the
 * pod's cgroup (--cgroup) and its container into the container's, so nothing of them is left in the
 * daemon's. DaemonCgroupKillIT and ReleaseIT do the kill itself with a whole daemon.
 */
@Tag("cgroup")
class ShimLeavesTheDaemonCgroupTest extends BusyboxRootfsTests {
    private static final Path CGROUP_ROOT = Path.of("/sys/fs/cgroup");

    @TempDir
    Path tmp;

    @Test
    void theMonitorAndTheContainerLeaveTheCgroupTheShimStartedIn() throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        List<Path> daemon = new ArrayList<>();
        List<Path> pod = new ArrayList<>();
        try {
            for (Path hierarchy : hierarchies()) {
                daemon.add(cgroup(hierarchy, "coracle-test-daemon-" + id));
                pod.add(cgroup(hierarchy, "coracle-test-pod-" + id));
            }
            // coracle-shim, as the daemon's child: in the daemon's cgroup in every hierarchy, then the real program.
            Path libexec = Files.createDirectories(tmp.resolve("libexec"));
            StringBuilder wrapper = new StringBuilder("#!/bin/sh\n");
            for (Path d : daemon) {
                wrapper.append("echo $$ > ").append(d.resolve("cgroup.procs")).append(" || exit 111\n");
            }
            wrapper.append("exec ").append(TestContainer.PROGRAMS.dir().resolve(NativePrograms.SHIM)).append(" \"$@\"\n");
            Path shim = Files.writeString(libexec.resolve(NativePrograms.SHIM), wrapper);
            Files.setPosixFilePermissions(shim, PosixFilePermissions.fromString("rwxr-xr-x"));

            try (TestContainer c = new TestContainer(lower)) {
                c.programs = new NativePrograms(libexec);
                c.shimCgroup = "/coracle-test-pod-" + id;
                c.args = List.of("sleep", "300");
                ShimClient client = c.create();
                client.start();
                ShimStateFile state = client.stateFile();

                long end = System.nanoTime() + 5_000_000_000L;
                while (!pids(daemon).isEmpty() && System.nanoTime() < end) {
                    Thread.sleep(20); // the launching process may still be on its way out
                }
                assertEquals(Set.of(), pids(daemon), "nothing of the shim or its container stays in the daemon's cgroup");
                assertTrue(pids(pod).contains((long) state.shimPid()), "the monitor " + state.shimPid() + " is in the pod's cgroup: "
                        + Files.readString(Path.of("/proc", Integer.toString(state.shimPid()), "cgroup")));
                String ctr = Files.readString(Path.of("/proc", Integer.toString(state.pid()), "cgroup"));
                assertTrue(ctr.contains("/" + c.cgroup), "the container is in its own cgroup: " + ctr);
                assertTrue(!ctr.contains("coracle-test-daemon-"), ctr);
            }
        } finally {
            for (Path d : daemon) {
                Files.deleteIfExists(d);
            }
            for (Path d : pod) {
                removeWhenEmpty(d);
            }
        }
    }

    private static Path cgroup(Path hierarchy, String name) throws IOException {
        Path dir = Files.createDirectory(hierarchy.resolve(name));
        if (!Files.exists(hierarchy.resolve("cgroup.controllers"))) { // a new v1 cpuset starts empty
            for (String knob : List.of("cpuset.cpus", "cpuset.mems")) {
                if (Files.exists(dir.resolve(knob))) {
                    Files.writeString(dir.resolve(knob), Files.readString(hierarchy.resolve(knob)).trim());
                }
            }
        }
        return dir;
    }

    private static void removeWhenEmpty(Path dir) throws IOException, InterruptedException {
        for (int i = 0; i < 250 && Files.exists(dir); i++) {
            try {
                Files.deleteIfExists(dir);
            } catch (IOException busy) {
                Thread.sleep(20); // the monitor is still exiting
            }
        }
        assertTrue(!Files.exists(dir), "left behind: " + dir);
    }

    /** /sys/fs/cgroup itself on v2; each mounted v1 hierarchy (and unified/) otherwise. */
    private static List<Path> hierarchies() throws IOException {
        if (Files.exists(CGROUP_ROOT.resolve("cgroup.controllers"))) {
            return List.of(CGROUP_ROOT);
        }
        try (Stream<Path> s = Files.list(CGROUP_ROOT)) {
            return s.filter(p -> !Files.isSymbolicLink(p) && Files.exists(p.resolve("cgroup.procs"))).sorted().toList();
        }
    }

    private static Set<Long> pids(List<Path> dirs) throws IOException {
        Set<Long> pids = new LinkedHashSet<>();
        for (Path dir : dirs) {
            for (String line : Files.readAllLines(dir.resolve("cgroup.procs"))) {
                if (!line.isBlank()) {
                    pids.add(Long.parseLong(line.trim()));
                }
            }
        }
        return pids;
    }
}
