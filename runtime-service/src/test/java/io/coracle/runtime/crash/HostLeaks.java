package io.coracle.runtime.crash;

import io.coracle.image.content.ManifestDocument;
import io.coracle.image.store.ImageRecord;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * What one test's Coracle left on the host, as an operator would look for it: mounts under its dir,
 * cgroups under its cgroup parent (every v1 hierarchy and the unified one), veths on its bridge,
 * addresses reserved in its host-local IPAM dir, processes of its dir or cgroups, files in its
 * record and state dirs, image leases, the image store's half-done or unreferenced content. Each
 * leftover is one line; none is the only good answer. A
 * mount on the root itself is the test's (a small tmpfs to fill up).
 */
record HostLeaks(Path dir, String cgroupParent, String bridge, Path ipamDir) {

    List<String> find() throws IOException, InterruptedException {
        List<String> out = new ArrayList<>();
        mounts(out);
        cgroups(out);
        veths(out);
        ipam(out);
        processes(out);
        files(out);
        imageStore(out);
        return out;
    }

    /**
     * What a half-done pull can leave in the image store: ingest files (partial or temp blobs), temp
     * snapshots, stray files beside the image records, a record whose blobs or snapshots are missing,
     * and blobs or snapshots no record references (the collection after every removal drops those).
     */
    private void imageStore(List<String> out) throws IOException {
        Path root = dir.resolve("root");
        listed(root.resolve("ingest"), p -> true).forEach(p -> out.add("ingest file " + p));
        listed(root.resolve("snapshots"), p -> p.getFileName().toString().startsWith("tmp-"))
                .forEach(p -> out.add("temp snapshot " + p));
        listed(root.resolve("tmp"), p -> true).forEach(p -> out.add("import temp " + p));
        Set<String> blobs = new HashSet<>();
        Set<String> chains = new HashSet<>();
        for (Path p : listed(root.resolve("images"), p -> true)) {
            if (!p.getFileName().toString().matches("[0-9a-f]{64}\\.json")) {
                out.add("stray image store file " + p);
                continue;
            }
            ImageRecord r = ManifestDocument.JSON.readValue(p.toFile(), ImageRecord.class);
            for (String b : r.blobs()) {
                blobs.add(b.substring("sha256:".length()));
                if (!Files.isRegularFile(root.resolve("blobs/sha256").resolve(b.substring("sha256:".length())))) {
                    out.add("image " + r.repoTags() + " misses blob " + b);
                }
            }
            for (String c : r.chainIds()) {
                chains.add(c.substring("sha256:".length()));
                if (!Files.isDirectory(root.resolve("snapshots").resolve(c.substring("sha256:".length())))) {
                    out.add("image " + r.repoTags() + " misses snapshot " + c);
                }
            }
        }
        listed(root.resolve("blobs/sha256"), p -> !blobs.contains(p.getFileName().toString()))
                .forEach(p -> out.add("unreferenced blob " + p));
        listed(root.resolve("snapshots"), p -> !p.getFileName().toString().startsWith("tmp-")
                && !chains.contains(p.getFileName().toString())).forEach(p -> out.add("unreferenced snapshot " + p));
    }

    private static List<Path> listed(Path d, java.util.function.Predicate<Path> which) throws IOException {
        if (!Files.isDirectory(d)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(d)) {
            return s.filter(which).toList();
        }
    }

    private void mounts(List<String> out) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String mountPoint = line.split(" ")[4].replace("\\040", " ");
            if (mountPoint.startsWith(dir.toString() + "/") && !mountPoint.equals(dir.resolve("root").toString())) {
                out.add("mount " + mountPoint);
            }
        }
    }

    private void cgroups(List<String> out) throws IOException {
        Set<Path> seen = new HashSet<>();
        try (Stream<Path> hs = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path h : hs.toList()) {
                Path parent = h.resolve(cgroupParent.substring(1));
                if (!Files.isDirectory(parent) || !seen.add(parent.toRealPath())) {
                    continue;
                }
                try (Stream<Path> w = Files.walk(parent)) {
                    w.filter(p -> !p.equals(parent) && Files.isDirectory(p)).forEach(p -> out.add("cgroup " + p));
                }
            }
        }
    }

    private void veths(List<String> out) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("ip", "-o", "link", "show", "master", bridge).redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        if (p.exitValue() == 0) {
            text.lines().filter(l -> !l.isBlank()).forEach(l -> out.add("link on " + bridge + ": " + l.trim()));
        }
    }

    private void ipam(List<String> out) throws IOException {
        if (!Files.isDirectory(ipamDir)) {
            return;
        }
        try (Stream<Path> w = Files.walk(ipamDir)) {
            w.filter(Files::isRegularFile).filter(p -> {
                String n = p.getFileName().toString();
                return !n.startsWith("last_reserved_ip") && !n.equals("lock");
            }).forEach(p -> out.add("IPAM reservation " + p.getFileName() + " (" + read(p) + ")"));
        }
    }

    private void processes(List<String> out) throws IOException {
        try (Stream<Path> ps = Files.list(Path.of("/proc"))) {
            for (Path p : ps.filter(x -> x.getFileName().toString().matches("\\d+")).toList()) {
                String cmdline = read(p.resolve("cmdline")).replace('\0', ' ');
                String cgroup = read(p.resolve("cgroup"));
                if (cmdline.contains(dir.toString() + "/state") || cgroup.contains(cgroupParent + "/")) {
                    if (ProcessHandle.current().pid() != Long.parseLong(p.getFileName().toString())
                            && !cmdline.contains(" daemon --socket ")) {
                        out.add("process " + p.getFileName() + ": " + cmdline.trim());
                    }
                }
            }
        }
    }

    private void files(List<String> out) throws IOException {
        for (Path d : List.of(dir.resolve("root/sandboxes"), dir.resolve("root/containers"), dir.resolve("root/leases"),
                dir.resolve("state/pods"), dir.resolve("state/ctr"))) {
            if (!Files.isDirectory(d)) {
                continue;
            }
            try (Stream<Path> s = Files.list(d)) {
                s.forEach(p -> out.add("file " + p));
            }
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }
}
