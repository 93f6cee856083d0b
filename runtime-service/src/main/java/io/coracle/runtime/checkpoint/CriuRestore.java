package io.coracle.runtime.checkpoint;

import io.coracle.cri.CriError;
import io.coracle.oci.Spec;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The {@code criu restore} of a checkpoint into a new container, as the plan coracle-shim runs at
 * StartContainer (restore.h in native/: "criu PATH", "fd N PATH", "arg ARG" lines). It mirrors
 * {@link CriuDump}:
 * <ul>
 * <li>the shim runs criu as its own child, inside the container's cgroups (criu's
 *     {@code --manage-cgroups=ignore}: the restored tasks stay where criu is), with the rootfs mounted
 *     in the shim's private mount namespace as {@code --root}; {@code --restore-detached
 *     --restore-sibling} make the restored root the shim's child, so the shim's monitoring (exit
 *     status, CRI log, stop, exec) is the same as for a container it built. Run from the daemon
 *     instead, the restored process would be the daemon's (or init's) child: no exit status, and no
 *     stdio pipes the shim holds;</li>
 * <li>the container's stdio are the new shim's pipes at fds 3..5, given back for the dumped pipes
 *     ({@code descriptors.json}) with {@code --inherit-fd};</li>
 * <li>the pod's network (and shared PID) namespace, external at dump, is the new pod's, opened by the
 *     shim at fds 6 (7); the IPC and UTS namespaces dumped with the tree are replaced by the new pod's
 *     ({@code --join-ns});</li>
 * <li>every bind mount of the dump ({@code --external mnt[DEST]}) is bound from the new container's mount at
 *     the same destination (volumes, /etc/hosts, resolv.conf...): a checkpoint whose mount the new
 *     request lacks is INVALID_ARGUMENT; masked paths get /dev/null or an empty directory.</li>
 * </ul>
 */
public final class CriuRestore {
    static final int NET_FD = 6;
    static final int PID_FD = 7;
    public static final String LOG = "restore.log";

    private CriuRestore() {
    }

    /**
     * What the plan needs: criu, CRIU's images and a work dir (its log goes there), the new container's
     * rootfs (mounted by the shim), the dumped spec and stdio, the new spec, and an empty directory
     * for masked directories.
     */
    public record Request(Path criu, Path imagesDir, Path workDir, Path rootfs, Spec dumped, List<String> descriptors,
                          Spec spec, Path emptyDir) {}

    public static String plan(Request r) {
        List<String> lines = new ArrayList<>();
        lines.add("criu " + r.criu());
        List<String> args = new ArrayList<>(List.of("restore",
                "--images-dir", r.imagesDir().toString(),
                "--work-dir", r.workDir().toString(),
                "--log-file", LOG,
                "-v4",
                "--root", r.rootfs().toString(),
                "--restore-detached", "--restore-sibling",
                "--leave-stopped", // the shim checks every restored task against the spec before any runs
                "--manage-cgroups=ignore",
                "--tcp-established", "--ext-unix-sk", "--file-locks"));
        for (int fd = 0; fd < r.descriptors().size(); fd++) {
            String d = r.descriptors().get(fd);
            if (d.matches("pipe:\\[[0-9]{1,20}\\]")) { // anything else (/dev/null) is reopened by path
                args.add("--inherit-fd");
                args.add("fd[" + (3 + fd) + "]:" + d);
            }
        }
        Map<String, String> dumpedNs = namespaces(r.dumped());
        Map<String, String> newNs = namespaces(r.spec());
        List<String> dumpedTypes = types(r.dumped());
        for (String type : types(r.spec())) {
            if (!type.equals("user") && !type.equals("cgroup") && !dumpedTypes.contains(type)) {
                // criu would put the process back in its own (the host's) namespace of that type
                throw CriError.invalid("the checkpointed container ran in the host's " + type + " namespace; the new"
                        + " container has its own: refused");
            }
        }
        if (dumpedNs.containsKey("network")) {
            lines.add("fd " + NET_FD + " " + required(newNs, "network"));
            args.add("--inherit-fd");
            args.add("fd[" + NET_FD + "]:extern-net");
        }
        if (dumpedNs.containsKey("pid")) {
            lines.add("fd " + PID_FD + " " + required(newNs, "pid"));
            args.add("--inherit-fd");
            args.add("fd[" + PID_FD + "]:extern-pid");
        }
        for (String ns : List.of("ipc", "uts")) {
            if (dumpedNs.containsKey(ns) && newNs.containsKey(ns)) {
                args.add("--join-ns");
                args.add(ns + ":" + newNs.get(ns));
            }
        }
        Map<String, String> sources = new TreeMap<>();
        if (r.spec().mounts() != null) {
            for (var m : r.spec().mounts()) {
                if (m.source() != null && m.source().startsWith("/") && m.source().chars().noneMatch(c -> c < 0x20)) {
                    sources.put(m.destination(), m.source());
                }
            }
        }
        List<String> masked = r.dumped().linux() == null || r.dumped().linux().maskedPaths() == null ? List.of()
                : r.dumped().linux().maskedPaths();
        for (String dest : CriuDump.externalMounts(r.dumped())) {
            checkPath(dest);
            String source;
            if (masked.contains(dest)) {
                source = Files.isDirectory(Path.of(dest), LinkOption.NOFOLLOW_LINKS) ? r.emptyDir().toString() : "/dev/null";
            } else {
                source = sources.get(dest);
                if (source == null) {
                    throw CriError.invalid("the checkpoint's container had a mount at " + dest
                            + ", which the new container's config lacks: add it (mounts) to restore");
                }
            }
            args.add("--external");
            args.add("mnt[" + dest + "]:" + source);
        }
        for (String a : args) {
            lines.add("arg " + a);
        }
        return String.join("\n", lines) + "\n";
    }

    /** A destination from the dumped spec goes onto criu's command line: one line, a plain absolute path. */
    private static void checkPath(String dest) {
        if (dest == null || !dest.startsWith("/") || dest.length() > 4096 || dest.chars().anyMatch(c -> c < 0x20)
                || dest.contains("]")) {
            throw CriError.invalid("spec.dump: mount destination \"" + dest + "\" is not a plain absolute path");
        }
    }

    private static List<String> types(Spec spec) {
        List<String> out = new ArrayList<>();
        if (spec.linux() != null && spec.linux().namespaces() != null) {
            for (var n : spec.linux().namespaces()) {
                if (n.type() != null) {
                    out.add(n.type());
                }
            }
        }
        return out;
    }

    private static Map<String, String> namespaces(Spec spec) {
        Map<String, String> out = new TreeMap<>();
        if (spec.linux() != null && spec.linux().namespaces() != null) {
            for (var n : spec.linux().namespaces()) {
                if (n.type() != null && n.path() != null && !n.path().isEmpty()) {
                    out.put(n.type(), n.path());
                }
            }
        }
        return out;
    }

    private static String required(Map<String, String> ns, String type) {
        String path = ns.get(type);
        if (path == null) {
            throw CriError.invalid("the checkpointed container shared its pod's " + type + " namespace; the new"
                    + " pod has none to share (host " + type + "?)");
        }
        return path;
    }
}
