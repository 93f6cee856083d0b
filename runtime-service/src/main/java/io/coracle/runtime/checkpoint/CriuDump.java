package io.coracle.runtime.checkpoint;

import io.coracle.cri.CriError;
import io.coracle.oci.Spec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * {@code criu dump} of a running container made by Coracle's shim, left running (the kubelet's
 * checkpoint is forensic). The options follow from how the shim builds a container:
 * <ul>
 * <li>{@code --tree PID}: the container's init, pid 1 of its own PID namespace (or a process in
 *     the pod's, when the pod shares one: then that namespace is {@code --external pid[..]});</li>
 * <li>the network namespace is the pod's, held by its pause process: {@code --external net[INODE]};
 *     IPC and UTS namespaces are the pod's too and are dumped with the tree (CRIU has no external
 *     IPC/UTS), and joined again at restore;</li>
 * <li>its mount namespace has the overlay rootfs as root; every bind mount of the spec (volumes,
 *     /etc/hosts, resolv.conf, hostname, /dev/shm, the termination log) and every masked path
 *     (/dev/null binds) is {@code --external mnt[DEST]:DEST}, given back at restore;</li>
 * <li>{@code --manage-cgroups} records the cgroup layout; {@code --freeze-cgroup} freezes the
 *     container's freezer cgroup instead of ptrace-stopping each task;</li>
 * <li>stdio are pipes held by the shim: the fds are recorded in descriptors.json, for
 *     {@code --inherit-fd} at restore, and {@code --ext-unix-sk}, {@code --tcp-established},
 *     {@code --file-locks} and {@code --link-remap} cover sockets, locks and unlinked open files.</li>
 * </ul>
 */
public final class CriuDump {
    private static final Logger LOG = Logger.getLogger(CriuDump.class.getName());

    private CriuDump() {
    }

    /** What a dump needs: the criu binary, the container's init PID, its spec, and where to write. */
    public record Request(Path criu, int pid, Spec spec, Path freezerCgroup, Path imagesDir, Path workDir,
                          Duration timeout) {}

    /** The command line for {@code r}. */
    public static List<String> command(Request r) throws IOException {
        List<String> c = new ArrayList<>(List.of(r.criu().toString(), "dump",
                "--tree", String.valueOf(r.pid()),
                "--images-dir", r.imagesDir().toString(),
                "--work-dir", r.workDir().toString(),
                "--log-file", CheckpointArchive.DUMP_LOG,
                "-v4",
                "--leave-running",
                "--manage-cgroups",
                "--tcp-established", "--ext-unix-sk", "--file-locks", "--link-remap",
                "--timeout", String.valueOf(Math.max(10, r.timeout().toSeconds()))));
        if (r.freezerCgroup() != null && Files.isDirectory(r.freezerCgroup())) {
            c.add("--freeze-cgroup");
            c.add(r.freezerCgroup().toString());
        }
        for (String ns : List.of("net", "pid")) {
            if (joinsNamespace(r.spec(), ns.equals("net") ? "network" : "pid")) {
                c.add("--external");
                c.add(ns + "[" + namespaceInode(r.pid(), ns) + "]:extern-" + ns);
            }
        }
        for (String dest : externalMounts(r.spec())) {
            c.add("--external");
            c.add("mnt[" + dest + "]:" + dest);
        }
        return c;
    }

    /** Mount points whose source lies outside the container's rootfs: every bind, and the masked paths. */
    static Set<String> externalMounts(Spec spec) {
        Set<String> out = new LinkedHashSet<>();
        if (spec.mounts() != null) {
            for (var m : spec.mounts()) {
                boolean bind = "bind".equals(m.type()) || (m.options() != null
                        && (m.options().contains("bind") || m.options().contains("rbind")));
                if (bind) {
                    out.add(m.destination());
                }
            }
        }
        if (spec.linux() != null && spec.linux().maskedPaths() != null) {
            out.addAll(spec.linux().maskedPaths());
        }
        return out;
    }

    private static boolean joinsNamespace(Spec spec, String type) {
        if (spec.linux() == null || spec.linux().namespaces() == null) {
            return false;
        }
        return spec.linux().namespaces().stream()
                .anyMatch(n -> type.equals(n.type()) && n.path() != null && !n.path().isEmpty());
    }

    /** The inode of the process's namespace of {@code type}, from the /proc link "net:[4026532281]". */
    static long namespaceInode(int pid, String type) throws IOException {
        String link = Files.readSymbolicLink(Path.of("/proc", String.valueOf(pid), "ns", type)).toString();
        int open = link.indexOf('[');
        int close = link.indexOf(']');
        if (open < 0 || close < open) {
            throw new IOException("unexpected namespace link " + link);
        }
        return Long.parseLong(link.substring(open + 1, close));
    }

    /**
     * Runs the dump; on failure throws the error the RPC answers: CRIU's own error lines and the path
     * of its log (kept at {@code keptLog}). A CRIU that cannot even detect the kernel's features is a
     * host that cannot checkpoint (FAILED_PRECONDITION); anything else is UNKNOWN, as CRIU says it.
     */
    public static void run(Request r, String containerId, Path keptLog) {
        List<String> command;
        try {
            command = command(r);
        } catch (IOException e) {
            throw CriError.internal("checkpoint container " + containerId + ": " + e.getMessage(), e);
        }
        LOG.fine(() -> "container " + containerId + ": " + String.join(" ", command));
        Path out = r.workDir().resolve("criu.out");
        int exit;
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            // CRIU's own --timeout bounds the freeze; this bounds the whole run (image writing included).
            if (!p.waitFor(r.timeout().toMillis() + 30_000, TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                keep(r, out, keptLog);
                throw new CriError(CriError.Kind.DEADLINE_EXCEEDED, "checkpoint container " + containerId
                        + ": criu dump did not finish within " + r.timeout().toSeconds() + "s; CRIU's log: " + keptLog);
            }
            exit = p.exitValue();
        } catch (IOException e) {
            throw CriError.internal("checkpoint container " + containerId + ": cannot run " + r.criu() + ": "
                    + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw CriError.internal("checkpoint container " + containerId + ": interrupted", e);
        }
        if (exit == 0) {
            return;
        }
        keep(r, out, keptLog);
        String log = "";
        try {
            log = CriuSupport.readBounded(keptLog);
        } catch (IOException e) {
            // the reason below says what CRIU printed, if anything
        }
        List<String> errors = CriuSupport.errorLines(log);
        if (errors.isEmpty()) {
            try {
                errors = CriuSupport.errorLines(CriuSupport.readBounded(out));
            } catch (IOException e) {
                errors = List.of();
            }
        }
        boolean hostCannot = errors.stream().anyMatch(l -> l.contains("kernel features detection")
                || l.contains("kerndat"));
        String reason = errors.isEmpty() ? "criu exited with " + exit : String.join("; ", errors);
        throw new CriError(hostCannot ? CriError.Kind.PRECONDITION : CriError.Kind.UNKNOWN,
                "checkpoint container " + containerId + ": criu dump failed"
                        + (hostCannot ? " (CRIU cannot checkpoint on this kernel)" : "") + ": " + reason
                        + "; CRIU's log: " + keptLog);
    }

    /** Keeps CRIU's log (or, without one, what it printed) at {@code keptLog} for the operator. */
    private static void keep(Request r, Path out, Path keptLog) {
        Path log = r.workDir().resolve(CheckpointArchive.DUMP_LOG);
        try {
            Files.move(Files.exists(log) ? log : out, keptLog, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            LOG.warning("cannot keep CRIU's log at " + keptLog + ": " + e.getMessage());
        }
    }
}
