package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.coracle.oci.Linux;
import io.coracle.oci.Mount;
import io.coracle.oci.OciJson;
import io.coracle.oci.Process;
import io.coracle.oci.Resources;
import io.coracle.oci.Root;
import io.coracle.oci.Spec;
import io.coracle.sys.NativePrograms;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * One test container: bundle, overlay dirs, state dir and log under a temp dir whose name
 * contains "coracle-test", a cgroup named coracle-test-*, and a spec the test adjusts before
 * {@link #create()}. {@link #close()} kills what is left and checks nothing leaked.
 */
final class TestContainer implements AutoCloseable {
    static final NativePrograms PROGRAMS = NativePrograms.locate();

    final Path dir, bundle, rootfs, upper, work, state;
    Path log; // a test may point it elsewhere before create()
    final String cgroup = "coracle-test-" + UUID.randomUUID().toString().substring(0, 8);
    final Path lower;
    // The spec, field by field; tests change them before create().
    List<String> args = List.of("true");
    List<String> env = new ArrayList<>(List.of("PATH=/bin", "HOME=/root"));
    Process.User user = new Process.User(0, 0, null, null);
    Process.Capabilities caps = Process.Capabilities.of(List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
            "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE"));
    boolean terminal;
    boolean readonlyRoot;
    boolean noNewPrivileges = true;
    Integer oomScoreAdj;
    String hostname = "ctr-" + cgroup.substring(13);
    Resources resources;
    List<Linux.Namespace> namespaces = new ArrayList<>(List.of(ns("pid"), ns("mount"), ns("ipc"), ns("uts"),
            ns("network")));
    List<String> masked = List.of("/proc/kcore", "/proc/keys", "/sys/firmware");
    List<String> readonly = List.of("/proc/sys", "/proc/sysrq-trigger");
    List<Mount> extraMounts = new ArrayList<>();
    Map<String, String> annotations = new HashMap<>();
    String rootfsPropagation; // linux.rootfsPropagation; null: the shim's default (rprivate)
    io.coracle.oci.Seccomp seccomp;
    Map<String, String> sysctl;
    List<Process.Rlimit> rlimits;
    boolean useCgroup = true;
    String cgroupSuffix = ""; // e.g. "/pod/ctr": nested below the test's own top-level cgroup
    boolean stdin;
    String cwd = "/";
    List<Linux.Device> devices;
    boolean devTmpfs = true; // false: the image's own /dev (and its symlinks) stays visible
    Path runtime; // an OCI runtime (runc) that runs the bundle under the shim; null: the shim itself
    NativePrograms programs = PROGRAMS; // where coracle-shim is taken from
    String shimCgroup; // the cgroup the shim's monitor moves to (--cgroup); null: it stays
    String apparmorProfile, selinuxLabel, mountLabel; // LSM labels (null: none)
    List<Linux.IdMapping> uidMappings, gidMappings; // with a user namespace to join (null: none)

    ShimLauncher.Created created;

    TestContainer(Path lowerLayer) throws IOException {
        this.lower = lowerLayer;
        // Short: the state dir holds unix sockets (108-byte path limit).
        dir = Files.createTempDirectory(Path.of("/tmp"), "coracle-test-");
        bundle = Files.createDirectories(dir.resolve("b"));
        rootfs = Files.createDirectories(bundle.resolve("rootfs"));
        upper = Files.createDirectories(dir.resolve("upper"));
        work = Files.createDirectories(dir.resolve("work"));
        state = dir.resolve("s");
        log = dir.resolve("ctr.log");
    }

    static Linux.Namespace ns(String type) {
        return new Linux.Namespace(type, null);
    }

    Spec spec() {
        List<Mount> mounts = new ArrayList<>(List.of(
                new Mount("/proc", "proc", "proc", List.of("nosuid", "noexec", "nodev")),
                new Mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")),
                new Mount("/dev/pts", "devpts", "devpts", List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")),
                new Mount("/dev/shm", "tmpfs", "shm", List.of("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
                new Mount("/dev/mqueue", "mqueue", "mqueue", List.of("nosuid", "noexec", "nodev")),
                new Mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", "ro"))));
        if (!devTmpfs) {
            mounts.removeIf(m -> m.destination().equals("/dev"));
        }
        mounts.addAll(extraMounts);
        Map<String, String> ann = new HashMap<>(annotations);
        ann.put(Spec.OVERLAY_LOWERDIRS, lower.toString());
        ann.put(Spec.OVERLAY_UPPERDIR, upper.toString());
        ann.put(Spec.OVERLAY_WORKDIR, work.toString());
        Process process = new Process(terminal, null, user, args, env, cwd, caps, rlimits, noNewPrivileges, oomScoreAdj,
                apparmorProfile, selinuxLabel);
        Linux linux = new Linux(namespaces, useCgroup ? "/" + cgroup + cgroupSuffix : null, resources, sysctl, seccomp, masked,
                readonly, devices, rootfsPropagation, mountLabel, uidMappings, gidMappings);
        return new Spec(Spec.VERSION, process, new Root("rootfs", readonlyRoot), hostname, mounts, ann, linux);
    }

    ShimClient create() throws IOException {
        OciJson.writeConfig(bundle, spec());
        // 30 s: runc under the cgroup-v2 stage's user-mode-linux takes seconds to create.
        created = new ShimLauncher(programs).create(new CreateRequest(bundle, state, log, stdin, runtime, shimCgroup),
                Duration.ofSeconds(30));
        return created.client();
    }

    ShimClient client() {
        return new ShimClient(state);
    }

    /** create, start, wait (bounded) for the exit. */
    ExitRecord run() throws IOException {
        ShimClient c = create();
        c.start();
        return c.awaitExit(Duration.ofSeconds(20)).orElseThrow(() -> new AssertionError("container still running"));
    }

    String logText() throws IOException {
        return Files.exists(log) ? Files.readString(log) : "";
    }

    /** The contents of the log's records for one stream, joined ("P" parts joined without newline). */
    String output(String stream) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String line : logText().split("\n", -1)) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split(" ", 4);
            if (f[1].equals(stream)) {
                sb.append(f.length > 3 ? f[3] : "");
                if (f[2].equals("F")) {
                    sb.append('\n');
                }
            }
        }
        return sb.toString();
    }

    static boolean gone(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException e) {
            return true;
        }
    }

    static void awaitGone(int pid, Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (!gone(pid)) {
            if (System.nanoTime() > end) {
                fail("process " + pid + " still alive");
            }
            Thread.sleep(10);
        }
    }

    /** Whether the node's cgroups offer the controller (user-mode-linux's v2 kernel has no cpuset, for one). */
    static boolean hasController(String name) throws IOException {
        Path root = Path.of("/sys/fs/cgroup");
        return Files.exists(root.resolve("cgroup.controllers"))
                ? List.of(Files.readString(root.resolve("cgroup.controllers")).trim().split(" ")).contains(name)
                : Files.isDirectory(root.resolve(name));
    }

    /** The cgroup directories named name (v2, or under any v1/hybrid hierarchy). Looks only there: walking
     * the whole tree trips over the cgroups other tests remove meanwhile. */
    static List<String> leakedCgroups(String name) throws IOException {
        Path root = Path.of("/sys/fs/cgroup");
        List<Path> candidates = new ArrayList<>(List.of(root.resolve(name)));
        try (Stream<Path> hierarchies = Files.list(root)) {
            hierarchies.forEach(h -> candidates.add(h.resolve(name)));
        }
        return candidates.stream().filter(Files::isDirectory).map(Path::toString).toList();
    }

    static List<String> mountsMentioning(String text) throws IOException {
        return Files.readAllLines(Path.of("/proc/mounts")).stream().filter(l -> l.contains(text)).toList();
    }

    @Override
    public void close() throws Exception {
        try {
            int shimPid = -1, pid = -1;
            if (Files.exists(state.resolve("state.json"))) {
                ShimStateFile sf = client().stateFile();
                shimPid = sf.shimPid();
                pid = sf.pid();
                if (Files.exists(state.resolve("ctl.sock"))) {
                    try {
                        client().kill(9, true);
                    } catch (IOException e) {
                        // already exiting
                    }
                    client().awaitExit(Duration.ofSeconds(10));
                }
            }
            if (shimPid > 0) {
                awaitGone(shimPid, Duration.ofSeconds(5));
            }
            if (pid > 0) {
                awaitGone(pid, Duration.ofSeconds(5));
            }
            assertEquals(List.of(), leakedCgroups(cgroup), "cgroups left behind");
            assertEquals(List.of(), mountsMentioning(dir.toString()), "mounts left behind");
        } finally {
            if (mountsMentioning(dir.toString()).isEmpty()) { // never delete through a live mount
                try (Stream<Path> s = Files.walk(dir)) {
                    for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(p);
                    }
                }
            }
        }
        assertFalse(Files.exists(dir));
    }
}
