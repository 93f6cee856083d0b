package io.coracle.runtime.cdi;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.coracle.cri.v1.CDIDevice;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.oci.Hook;
import io.coracle.oci.Linux;
import io.coracle.oci.Mount;
import io.coracle.oci.Resources;
import io.coracle.runtime.spec.DeviceStep;
import io.coracle.runtime.spec.InvalidContainerConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * The CDI devices of this node: the spec files (JSON, or YAML by extension) of the configured
 * directories, read at each CreateContainer that asks for a device, so that a spec a device plugin
 * writes later is used without a restart. A device in a later directory overrides the same device
 * in an earlier one; two files of one directory defining it make it unresolvable. Spec files are
 * host configuration, still parsed defensively: bounded size and counts, regular files only (a
 * symlink is refused), names and paths checked; a refused file contributes no device, and its
 * reason is part of the error of a container that asks for one of its devices.
 */
public final class CdiRegistry {
    private static final Logger LOG = Logger.getLogger(CdiRegistry.class.getName());

    public static final List<Path> DEFAULT_DIRS = List.of(Path.of("/etc/cdi"), Path.of("/var/run/cdi"));
    public static final String ANNOTATION_PREFIX = "cdi.k8s.io/";
    static final long MAX_SPEC_BYTES = 1 << 20;
    static final int MAX_FILES_PER_DIR = 1024, MAX_LIST = 1024, MAX_DEVICES_PER_CONTAINER = 128, MAX_STRING = 32 * 1024;
    static final int MAX_HOOK_TIMEOUT_SECONDS = 3600;
    static final Set<String> VERSIONS = Set.of("0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0");
    static final Pattern VENDOR = Pattern.compile("[A-Za-z]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?");
    static final Pattern CLASS = Pattern.compile("[A-Za-z]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?");
    static final Pattern DEVICE = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9_.:-]{0,126}[A-Za-z0-9])?");
    static final Pattern FILE_NAME = Pattern.compile("[^/]+\\.(json|yaml|yml)");

    private static final ObjectMapper JSON = configure(new ObjectMapper());
    private static final ObjectMapper YAML = configure(new ObjectMapper(YAMLFactory.builder()
            .loaderOptions(yamlLimits()).build()));

    private final List<Path> dirs;

    public CdiRegistry(List<Path> dirs) {
        this.dirs = List.copyOf(dirs);
    }

    public List<Path> dirs() {
        return dirs;
    }

    private static ObjectMapper configure(ObjectMapper m) {
        m.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(32)
                .maxStringLength(MAX_STRING).build());
        m.enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
        return m;
    }

    private static org.yaml.snakeyaml.LoaderOptions yamlLimits() {
        org.yaml.snakeyaml.LoaderOptions o = new org.yaml.snakeyaml.LoaderOptions();
        o.setCodePointLimit((int) MAX_SPEC_BYTES);
        o.setMaxAliasesForCollections(16);
        o.setNestingDepthLimit(32);
        return o;
    }

    /** The fully qualified names a container asks for: its CDIDevice entries, then its cdi.k8s.io/ annotations (comma-separated). */
    public static List<String> requested(ContainerConfig c) throws InvalidContainerConfigException {
        Set<String> names = new LinkedHashSet<>();
        for (int i = 0; i < c.getCDIDevicesCount(); i++) {
            CDIDevice d = c.getCDIDevices(i);
            names.add(qualified("config.CDI_devices[" + i + "].name", d.getName()));
        }
        for (Map.Entry<String, String> a : new java.util.TreeMap<>(c.getAnnotationsMap()).entrySet()) {
            if (!a.getKey().startsWith(ANNOTATION_PREFIX)) {
                continue;
            }
            String key = a.getKey().substring(ANNOTATION_PREFIX.length());
            if (!key.matches("[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")) {
                throw new InvalidContainerConfigException("config.annotations[" + a.getKey() + "]: not a CDI annotation key"
                        + " (cdi.k8s.io/ and a name of letters, digits, '_', '.' and '-')");
            }
            for (String name : a.getValue().split(",", -1)) {
                names.add(qualified("config.annotations[" + a.getKey() + "]", name.strip()));
            }
        }
        if (names.size() > MAX_DEVICES_PER_CONTAINER) {
            throw new InvalidContainerConfigException("CDI devices: " + names.size() + " asked, at most "
                    + MAX_DEVICES_PER_CONTAINER);
        }
        return List.copyOf(names);
    }

    /** vendor.com/class=name, each part in its CDI charset. */
    static String qualified(String field, String name) throws InvalidContainerConfigException {
        int slash = name.indexOf('/'), eq = name.indexOf('=');
        if (slash < 0 || eq < slash || !VENDOR.matcher(name.substring(0, slash)).matches()
                || !CLASS.matcher(name.substring(slash + 1, eq)).matches() || !DEVICE.matcher(name.substring(eq + 1)).matches()) {
            throw new InvalidContainerConfigException(field + ": '" + printable(name)
                    + "' is not a fully qualified CDI device name (vendor.com/class=name)");
        }
        return name;
    }

    /** One device as found: its spec (for the spec-level edits), its own edits, and the file it came from. */
    record Found(CdiSpec spec, CdiSpec.Device device, Path file) {}

    /** Every device of the spec dirs by qualified name, and why files or devices were refused. */
    record Catalog(Map<String, Found> devices, List<String> problems) {}

    /** Reads the spec dirs now and resolves the names into edits; an unknown device fails naming every one. */
    public CdiEdits resolve(List<String> names) throws InvalidContainerConfigException {
        Catalog catalog = load();
        List<String> missing = names.stream().filter(n -> !catalog.devices().containsKey(n)).toList();
        if (!missing.isEmpty()) {
            throw new InvalidContainerConfigException("unresolvable CDI devices " + String.join(", ", missing)
                    + " (spec dirs " + dirs + (catalog.problems().isEmpty() ? ")"
                    : "; refused: " + String.join("; ", catalog.problems()) + ")"));
        }
        Edits out = new Edits();
        Set<CdiSpec> specsApplied = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (String name : names) {
            Found f = catalog.devices().get(name);
            try {
                if (specsApplied.add(f.spec())) {
                    out.add(f.spec().containerEdits());
                }
                out.add(f.device().containerEdits());
            } catch (IOException | IllegalArgumentException e) {
                throw new InvalidContainerConfigException("CDI device " + name + " (" + f.file() + "): " + e.getMessage(), e);
            }
        }
        return out.toEdits();
    }

    Catalog load() {
        Map<String, Found> devices = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        for (Path dir : dirs) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            Map<String, Found> here = new LinkedHashMap<>();
            Set<String> conflicts = new TreeSet<>();
            for (Path file : files(dir, problems)) {
                CdiSpec spec;
                try {
                    spec = read(file);
                    check(spec);
                } catch (IOException | IllegalArgumentException e) {
                    problems.add(file + ": " + e.getMessage());
                    continue;
                }
                for (CdiSpec.Device d : spec.devices()) {
                    String name = spec.kind() + "=" + d.name();
                    Found earlier = here.put(name, new Found(spec, d, file));
                    if (earlier != null) {
                        conflicts.add(name);
                        problems.add(name + " is defined by both " + earlier.file() + " and " + file);
                    }
                }
            }
            conflicts.forEach(here::remove);
            conflicts.forEach(devices::remove);
            devices.putAll(here); // a later directory overrides an earlier one
        }
        problems.forEach(p -> LOG.warning("CDI spec refused: " + p));
        return new Catalog(devices, problems);
    }

    private static List<Path> files(Path dir, List<String> problems) {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                if (FILE_NAME.matcher(p.getFileName().toString()).matches()) {
                    if (out.size() == MAX_FILES_PER_DIR) {
                        problems.add(dir + ": more than " + MAX_FILES_PER_DIR + " spec files; the rest are ignored");
                        break;
                    }
                    out.add(p);
                }
            }
        } catch (IOException e) {
            problems.add(dir + ": cannot list: " + e);
        }
        out.sort(null);
        return out;
    }

    /** Parses one spec file: a regular file (never through a symlink), at most MAX_SPEC_BYTES. */
    static CdiSpec read(Path file) throws IOException {
        byte[] bytes;
        // Checked before opening: opening a FIFO would wait for a writer.
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (a.isSymbolicLink()) {
            throw new IOException("a symbolic link (spec files must be regular files)");
        }
        if (!a.isRegularFile()) {
            throw new IOException("not a regular file");
        }
        if (a.size() > MAX_SPEC_BYTES) {
            throw new IOException("larger than " + MAX_SPEC_BYTES + " bytes");
        }
        try (SeekableByteChannel ch = Files.newByteChannel(file, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
            try (InputStream in = Channels.newInputStream(ch)) {
                bytes = in.readNBytes((int) MAX_SPEC_BYTES + 1);
            }
        } catch (java.nio.file.FileSystemException e) {
            // Replaced by a symlink after the check above: O_NOFOLLOW refused it (ELOOP).
            throw new IOException(e.getReason() != null ? e.getReason() : e.getMessage());
        }
        if (bytes.length > MAX_SPEC_BYTES) {
            throw new IOException("larger than " + MAX_SPEC_BYTES + " bytes");
        }
        try {
            CdiSpec spec = (file.toString().endsWith(".json") ? JSON : YAML).readValue(bytes, CdiSpec.class);
            if (spec == null) {
                throw new IOException("empty");
            }
            return spec;
        } catch (JsonProcessingException e) {
            throw new IOException("not a CDI spec: " + e.getOriginalMessage());
        }
    }

    /** The spec's own rules: version, kind, device names, edits. */
    static void check(CdiSpec s) {
        if (s.cdiVersion() == null || !VERSIONS.contains(s.cdiVersion())) {
            throw new IllegalArgumentException("cdiVersion '" + printable(String.valueOf(s.cdiVersion()))
                    + "' is not one of " + new TreeSet<>(VERSIONS));
        }
        String kind = s.kind() == null ? "" : s.kind();
        int slash = kind.indexOf('/');
        if (slash < 0 || !VENDOR.matcher(kind.substring(0, slash)).matches() || !CLASS.matcher(kind.substring(slash + 1)).matches()) {
            throw new IllegalArgumentException("kind '" + printable(kind) + "' is not vendor.com/class");
        }
        if (s.devices() == null || s.devices().isEmpty()) {
            throw new IllegalArgumentException("no devices");
        }
        bounded("devices", s.devices());
        Set<String> seen = new java.util.HashSet<>();
        for (CdiSpec.Device d : s.devices()) {
            if (d == null || d.name() == null || !DEVICE.matcher(d.name()).matches()) {
                throw new IllegalArgumentException("device name '" + printable(d == null ? "null" : String.valueOf(d.name()))
                        + "' is not letters, digits, '_', '.', ':' and '-' starting and ending with a letter or digit");
            }
            if (!seen.add(d.name())) {
                throw new IllegalArgumentException("device " + d.name() + " is defined twice");
            }
            checkEdits("devices[" + d.name() + "].containerEdits", d.containerEdits());
        }
        checkEdits("containerEdits", s.containerEdits());
    }

    private static void checkEdits(String where, CdiSpec.ContainerEdits e) {
        if (e == null) {
            return;
        }
        for (String env : orEmpty(where + ".env", e.env())) {
            int eq = env == null ? -1 : env.indexOf('=');
            if (eq <= 0 || env.indexOf('\0') >= 0) {
                throw new IllegalArgumentException(where + ".env: '" + printable(String.valueOf(env)) + "' is not KEY=VALUE");
            }
        }
        for (CdiSpec.DeviceNode n : orEmpty(where + ".deviceNodes", e.deviceNodes())) {
            String f = where + ".deviceNodes[" + (n == null ? "null" : printable(String.valueOf(n.path()))) + "]";
            if (n == null) {
                throw new IllegalArgumentException(f + ": null");
            }
            path(f + ".path", n.path());
            if (!n.path().startsWith("/dev/")) {
                throw new IllegalArgumentException(f + ".path: not under /dev");
            }
            if (n.hostPath() != null) {
                path(f + ".hostPath", n.hostPath());
            }
            if (n.type() != null && !n.type().matches("[cb]")) {
                throw new IllegalArgumentException(f + ".type: '" + printable(n.type()) + "' is not c or b");
            }
            number(f + ".major", n.major(), Resources.DeviceRule.MAX_NUMBER);
            number(f + ".minor", n.minor(), Resources.DeviceRule.MAX_NUMBER);
            number(f + ".uid", n.uid(), Integer.MAX_VALUE);
            number(f + ".gid", n.gid(), Integer.MAX_VALUE);
            if (n.fileMode() != null && (n.fileMode() < 0 || n.fileMode() > 0777)) {
                throw new IllegalArgumentException(f + ".fileMode: " + n.fileMode() + " is not a permission mode 0..0777");
            }
            if (n.permissions() != null && (!n.permissions().matches("[rwm]{1,3}")
                    || n.permissions().chars().distinct().count() != n.permissions().length())) {
                throw new IllegalArgumentException(f + ".permissions: '" + printable(n.permissions()) + "' is not made of r, w and m");
            }
        }
        for (CdiSpec.Mount m : orEmpty(where + ".mounts", e.mounts())) {
            if (m == null) {
                throw new IllegalArgumentException(where + ".mounts: null");
            }
            String f = where + ".mounts[" + printable(String.valueOf(m.containerPath())) + "]";
            path(f + ".hostPath", m.hostPath());
            path(f + ".containerPath", m.containerPath());
            if (m.type() != null && !m.type().matches("[a-z0-9_.-]{1,32}")) {
                throw new IllegalArgumentException(f + ".type: '" + printable(m.type()) + "' is not a file system type");
            }
            for (String o : orEmpty(f + ".options", m.options())) {
                if (o == null || !o.matches("[A-Za-z0-9_.,=:/+@-]{1,256}")) {
                    throw new IllegalArgumentException(f + ".options: '" + printable(String.valueOf(o)) + "' is not a mount option");
                }
            }
        }
        for (CdiSpec.Hook h : orEmpty(where + ".hooks", e.hooks())) {
            if (h == null || h.hookName() == null || !Hook.NAMES.contains(h.hookName())) {
                throw new IllegalArgumentException(where + ".hooks: hookName '" + (h == null ? "null" : printable(String.valueOf(h.hookName())))
                        + "' is not one of " + Hook.NAMES);
            }
            String f = where + ".hooks[" + h.hookName() + "]";
            path(f + ".path", h.path());
            for (String a : orEmpty(f + ".args", h.args())) {
                if (a == null || a.indexOf('\0') >= 0) {
                    throw new IllegalArgumentException(f + ".args: null or holding NUL");
                }
            }
            for (String env : orEmpty(f + ".env", h.env())) {
                if (env == null || env.indexOf('=') <= 0 || env.indexOf('\0') >= 0) {
                    throw new IllegalArgumentException(f + ".env: '" + printable(String.valueOf(env)) + "' is not KEY=VALUE");
                }
            }
            if (h.timeout() != null && (h.timeout() <= 0 || h.timeout() > MAX_HOOK_TIMEOUT_SECONDS)) {
                throw new IllegalArgumentException(f + ".timeout: " + h.timeout() + " is not 1.." + MAX_HOOK_TIMEOUT_SECONDS + " seconds");
            }
        }
        for (Long gid : orEmpty(where + ".additionalGIDs", e.additionalGids())) {
            number(where + ".additionalGIDs", gid, Integer.MAX_VALUE);
            if (gid == null) {
                throw new IllegalArgumentException(where + ".additionalGIDs: null");
            }
        }
    }

    /** An absolute path without '..' components or NUL. */
    private static void path(String f, String p) {
        if (p == null || !p.startsWith("/") || p.indexOf('\0') >= 0 || p.length() > 4095) {
            throw new IllegalArgumentException(f + ": '" + printable(String.valueOf(p)) + "' is not an absolute path");
        }
        for (String part : p.split("/")) {
            if (part.equals("..")) {
                throw new IllegalArgumentException(f + ": '" + printable(p) + "' holds '..'");
            }
        }
    }

    private static void number(String f, Long n, long max) {
        if (n != null && (n < 0 || n > max)) {
            throw new IllegalArgumentException(f + ": " + n + " is outside 0.." + max);
        }
    }

    private static <T> List<T> orEmpty(String f, List<T> l) {
        if (l == null) {
            return List.of();
        }
        bounded(f, l);
        return l;
    }

    private static void bounded(String f, List<?> l) {
        if (l.size() > MAX_LIST) {
            throw new IllegalArgumentException(f + ": more than " + MAX_LIST + " entries");
        }
    }

    /** For messages: at most 100 characters, control characters shown as '?'. */
    static String printable(String s) {
        String cut = s.length() > 100 ? s.substring(0, 100) + "..." : s;
        return cut.codePoints().map(c -> c < 0x20 || c == 0x7f ? '?' : c)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
    }

    /** The edits of the resolved devices, in order, made concrete (device nodes described from the host). */
    private static final class Edits {
        final List<String> env = new ArrayList<>();
        final List<Linux.Device> devices = new ArrayList<>();
        final List<Resources.DeviceRule> rules = new ArrayList<>();
        final List<Mount> mounts = new ArrayList<>();
        final Map<String, List<Hook>> hooks = new LinkedHashMap<>();
        final List<Long> gids = new ArrayList<>();

        void add(CdiSpec.ContainerEdits e) throws IOException {
            if (e == null) {
                return;
            }
            if (e.env() != null) {
                env.addAll(e.env());
            }
            for (CdiSpec.DeviceNode n : e.deviceNodes() == null ? List.<CdiSpec.DeviceNode>of() : e.deviceNodes()) {
                Linux.Device d = node(n);
                devices.removeIf(x -> x.path().equals(d.path()));
                devices.add(d);
                rules.add(new Resources.DeviceRule(true, d.type(), d.major(), d.minor(),
                        n.permissions() == null ? "rwm" : n.permissions()));
            }
            for (CdiSpec.Mount m : e.mounts() == null ? List.<CdiSpec.Mount>of() : e.mounts()) {
                mounts.removeIf(x -> x.destination().equals(m.containerPath()));
                mounts.add(new Mount(m.containerPath(), m.type() == null ? "bind" : m.type(), m.hostPath(),
                        m.options() == null ? List.of() : List.copyOf(m.options())));
            }
            for (CdiSpec.Hook h : e.hooks() == null ? List.<CdiSpec.Hook>of() : e.hooks()) {
                hooks.computeIfAbsent(h.hookName(), k -> new ArrayList<>()).add(new Hook(h.path(),
                        h.args() == null ? List.of(h.path()) : List.copyOf(h.args()),
                        h.env() == null ? null : List.copyOf(h.env()), h.timeout()));
            }
            if (e.additionalGids() != null) {
                e.additionalGids().stream().filter(g -> !gids.contains(g)).forEach(gids::add);
            }
        }

        /**
         * The node as the container gets it: from the spec alone when it names type and a major
         * number, else described from the host's node (hostPath, default path), which must be a device
         * node (never followed through a symlink); fileMode, uid and gid of the spec win.
         */
        private static Linux.Device node(CdiSpec.DeviceNode n) throws IOException {
            Linux.Device d;
            if (n.type() != null && n.major() != null && n.major() != 0) {
                d = new Linux.Device(n.path(), n.type(), n.major(), n.minor() == null ? 0 : n.minor(), 0666, 0L, 0L);
            } else {
                String host = n.hostPath() != null ? n.hostPath() : n.path();
                try {
                    d = DeviceStep.describe(Path.of(host), n.path());
                } catch (NoSuchFileException e) {
                    throw new IOException("hostPath " + host + " does not exist");
                }
                if (d == null) {
                    throw new IOException("hostPath " + host + " is not a device node");
                }
                if (n.type() != null && !n.type().equals(d.type())) {
                    throw new IOException("hostPath " + host + " is a " + (d.type().equals("c") ? "character" : "block")
                            + " device, the spec says type " + n.type());
                }
            }
            return new Linux.Device(d.path(), d.type(), d.major(), d.minor(),
                    n.fileMode() != null ? n.fileMode() : d.fileMode(),
                    n.uid() != null ? n.uid() : d.uid(), n.gid() != null ? n.gid() : d.gid());
        }

        CdiEdits toEdits() {
            return new CdiEdits(env, devices, rules, mounts, hooks, gids);
        }
    }
}
