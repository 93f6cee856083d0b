package io.coracle.image.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.coracle.image.ImageException;
import io.coracle.image.ImageReference;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * containerd's registry hosts directory ({@code config_path}, e.g. {@code /etc/containerd/certs.d}), read as
 * containerd reads it: for {@code host:port} the namespaces {@code host_port_}, {@code host:port}, then
 * {@code _default}; for {@code host}, {@code host} then {@code _default}. The first namespace directory that
 * exists decides: its {@code hosts.toml} (ordered {@code [host."URL"]} entries tried first, then
 * {@code server}), or without one Docker's certificate files ({@code *.crt} CAs, {@code *.cert}/{@code *.key}
 * client pairs) for the registry itself. Each lookup checks the file's modification time, so edits apply to
 * the next pull without a restart.
 */
final class HostsDirectory {
    private static final Logger LOG = Logger.getLogger(HostsDirectory.class.getName());
    private static final TomlMapper TOML = new TomlMapper();
    /** A hosts.toml is a few hundred bytes; anything near this bound is not one. */
    private static final int MAX_FILE_BYTES = 1 << 20;
    private static final Pattern DURATION_PART = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)(ns|us|µs|ms|s|m|h)");
    private static final Set<String> KNOWN_KEYS = Set.of("server", "capabilities", "ca", "client", "skip_verify",
            "header", "override_path", "dial_timeout", "host", "proxy");

    /** Headers Java's HttpClient sets itself (and refuses from callers), and the proxy's. */
    private static final Set<String> RESTRICTED_HEADERS = Set.of("connection", "content-length", "expect", "host", "upgrade",
            "proxy-authorization");

    private final Path dir;
    private final Map<Path, Cached> cache = new ConcurrentHashMap<>();

    private record Cached(Object fileKey, long mtime, long size, String registry, List<RegistryEndpoint> hosts) {
    }

    HostsDirectory(Path dir) {
        this.dir = dir;
    }

    Path dir() {
        return dir;
    }

    /** The directory names tried for a registry, in containerd's order. */
    static List<String> namespaces(String registry) {
        List<String> out = new ArrayList<>();
        int colon = registry.lastIndexOf(':');
        if (colon > 0 && registry.substring(colon + 1).matches("[0-9]+") && registry.indexOf(']') < colon) {
            out.add(registry.substring(0, colon) + "_" + registry.substring(colon + 1) + "_");
        }
        out.add(registry);
        out.add("_default");
        return out;
    }

    /**
     * The hosts of {@code registry} in the order to try them, or null when the directory configures
     * nothing for it. {@code defaultServer} is the registry's own endpoint when {@code server} is not set.
     */
    List<RegistryEndpoint> lookup(String registry, URI defaultServer) {
        if (dir == null) {
            return null;
        }
        for (String ns : namespaces(registry)) {
            if (ns.isEmpty() || ns.equals(".") || ns.equals("..") || ns.contains("/")) {
                continue;
            }
            Path nsDir = dir.resolve(ns);
            if (!Files.isDirectory(nsDir)) {
                continue;
            }
            boolean own = !ns.equals("_default");
            Path file = nsDir.resolve("hosts.toml");
            if (Files.isRegularFile(file)) {
                return hostsFile(file, registry, defaultServer, own);
            }
            return List.of(dockerCertsServer(nsDir, registry, defaultServer));
        }
        return null;
    }

    private List<RegistryEndpoint> hostsFile(Path file, String registry, URI defaultServer, boolean own) {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            String key = registry + "|" + defaultServer + "|" + own;
            Cached c = cache.get(file);
            if (c != null && c.registry.equals(key) && c.mtime == a.lastModifiedTime().toMillis()
                    && c.size == a.size() && java.util.Objects.equals(c.fileKey, a.fileKey())) {
                return c.hosts;
            }
            List<RegistryEndpoint> hosts = parse(file, registry, defaultServer, own);
            cache.put(file, new Cached(a.fileKey(), a.lastModifiedTime().toMillis(), a.size(), key, hosts));
            LOG.info("registry hosts for " + registry + " from " + file + ": " + hosts);
            return hosts;
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw invalid(file, "cannot read: " + e.getMessage());
        }
    }

    private static List<RegistryEndpoint> parse(Path file, String registry, URI defaultServer, boolean own) throws IOException {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_FILE_BYTES + 1);
        }
        if (bytes.length > MAX_FILE_BYTES) {
            throw invalid(file, "larger than " + MAX_FILE_BYTES + " bytes");
        }
        JsonNode root;
        try {
            root = TOML.readTree(bytes);
        } catch (IOException e) {
            throw invalid(file, "not valid TOML: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (root == null || !root.isObject()) {
            root = TOML.createObjectNode();
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!KNOWN_KEYS.contains(k)) {
                LOG.warning("registry hosts file " + file + ": key '" + k + "' is not supported and ignored");
            }
        }
        Path base = file.getParent();
        String ownAuthority = defaultServer.getRawAuthority();
        List<RegistryEndpoint> out = new ArrayList<>();
        JsonNode hostTable = root.path("host");
        if (hostTable.isObject()) {
            for (Map.Entry<String, JsonNode> h : hostTable.properties()) {
                out.add(endpoint(file, base, registry, h.getKey(), h.getValue(), own, ownAuthority));
            }
        } else if (!hostTable.isMissingNode()) {
            throw invalid(file, "'host' must be a table of [host.\"URL\"] entries");
        }
        JsonNode server = root.get("server");
        String serverUrl;
        if (server == null) {
            serverUrl = defaultServer.toString();
        } else if (server.isTextual() && !server.asText().isBlank()) {
            serverUrl = server.asText().trim();
        } else {
            throw invalid(file, "'server' must be a URL string");
        }
        out.add(endpoint(file, base, registry, serverUrl, root, own, ownAuthority));
        return List.copyOf(out);
    }

    private static RegistryEndpoint endpoint(Path file, Path base, String registry, String url, JsonNode t, boolean own,
                                             String ownAuthority) {
        URI u = hostUrl(file, url);
        boolean overridePath = bool(file, t, "override_path");
        Set<RegistryEndpoint.Capability> caps = capabilities(file, t.get("capabilities"));
        RegistryEndpoint.Tls tls = new RegistryEndpoint.Tls(paths(file, base, t.get("ca"), "ca"), clients(file, base, t.get("client")),
                bool(file, t, "skip_verify"));
        Map<String, List<String>> headers = headers(file, t.get("header"));
        Duration dial = t.has("dial_timeout") ? duration(file, t.get("dial_timeout")) : null;
        boolean sameHost = u.getRawAuthority().equalsIgnoreCase(ownAuthority) || u.getRawAuthority().equalsIgnoreCase(registry);
        // The pull's credentials are for this registry: they go to the hosts its own hosts.toml names, and to a
        // _default mirror only when it is the registry's own host.
        boolean creds = own || sameHost;
        return new RegistryEndpoint(registry, RegistryEndpoint.apiRootOf(u, overridePath), !sameHost, caps, tls, headers, dial, creds,
                proxy(file, t.get("proxy")));
    }

    private static URI hostUrl(Path file, String s) {
        String url = s.contains("://") ? s : "https://" + s;
        try {
            URI u = new URI(url);
            if ((!"http".equalsIgnoreCase(u.getScheme()) && !"https".equalsIgnoreCase(u.getScheme())) || u.getHost() == null
                    || u.getRawQuery() != null || u.getRawFragment() != null || u.getRawUserInfo() != null) {
                throw invalid(file, "host '" + s + "' must be an http:// or https:// URL with a host and no query, fragment or user");
            }
            if ("docker.io".equalsIgnoreCase(u.getHost())) { // Docker Hub's API host, as containerd maps it
                u = new URI(u.getScheme(), null, "registry-1.docker.io", u.getPort(), u.getPath(), null, null);
            }
            return u;
        } catch (java.net.URISyntaxException e) {
            throw invalid(file, "host '" + s + "' is not a URL");
        }
    }

    /** {@code proxy = "http://[user:password@]host:port"}: this host's requests go through it, whatever NO_PROXY says. */
    private static URI proxy(Path file, JsonNode v) {
        if (v == null) {
            return null;
        }
        try {
            URI u = new URI(v.asText().trim());
            String path = u.getRawPath() == null ? "" : u.getRawPath();
            if (!v.isTextual() || !"http".equalsIgnoreCase(u.getScheme()) || u.getHost() == null || !(path.isEmpty() || path.equals("/"))
                    || u.getRawQuery() != null || u.getRawFragment() != null) {
                throw invalid(file, "'proxy' must be an http://host:port URL (Java's HttpClient speaks to proxies in plain HTTP)");
            }
            return u;
        } catch (java.net.URISyntaxException e) {
            throw invalid(file, "'proxy' is not a URL");
        }
    }

    private static boolean bool(Path file, JsonNode t, String key) {
        JsonNode v = t.get(key);
        if (v == null) {
            return false;
        }
        if (!v.isBoolean()) {
            throw invalid(file, "'" + key + "' must be true or false");
        }
        return v.asBoolean();
    }

    private static Set<RegistryEndpoint.Capability> capabilities(Path file, JsonNode v) {
        if (v == null) {
            return EnumSet.allOf(RegistryEndpoint.Capability.class);
        }
        if (!v.isArray()) {
            throw invalid(file, "'capabilities' must be a list of \"pull\", \"resolve\", \"push\"");
        }
        Set<RegistryEndpoint.Capability> out = EnumSet.noneOf(RegistryEndpoint.Capability.class);
        for (JsonNode c : v) {
            switch (c.asText()) {
                case "pull" -> out.add(RegistryEndpoint.Capability.PULL);
                case "resolve" -> out.add(RegistryEndpoint.Capability.RESOLVE);
                case "push" -> out.add(RegistryEndpoint.Capability.PUSH);
                default -> throw invalid(file, "unknown capability '" + c.asText() + "' (pull, resolve, push)");
            }
        }
        return out;
    }

    private static List<Path> paths(Path file, Path base, JsonNode v, String key) {
        if (v == null) {
            return List.of();
        }
        List<Path> out = new ArrayList<>();
        if (v.isTextual()) {
            out.add(path(file, base, v.asText(), key));
        } else if (v.isArray()) {
            for (JsonNode p : v) {
                if (!p.isTextual()) {
                    throw invalid(file, "'" + key + "' must be a path or a list of paths");
                }
                out.add(path(file, base, p.asText(), key));
            }
        } else {
            throw invalid(file, "'" + key + "' must be a path or a list of paths");
        }
        return out;
    }

    private static Path path(Path file, Path base, String s, String key) {
        if (s.isBlank()) {
            throw invalid(file, "'" + key + "' holds an empty path");
        }
        return base.resolve(s).normalize(); // absolute, or relative to the hosts.toml
    }

    /** {@code "c.pem"}, {@code ["a.pem", "b.pem"]} (key inside), or {@code [["c.cert", "c.key"], ["d.pem", ""]]}. */
    private static List<RegistryEndpoint.ClientCert> clients(Path file, Path base, JsonNode v) {
        if (v == null) {
            return List.of();
        }
        List<RegistryEndpoint.ClientCert> out = new ArrayList<>();
        if (v.isTextual()) {
            out.add(new RegistryEndpoint.ClientCert(path(file, base, v.asText(), "client"), null));
            return out;
        }
        if (!v.isArray()) {
            throw invalid(file, "'client' must be a path, a list of paths or a list of [cert, key] pairs");
        }
        for (JsonNode c : v) {
            if (c.isTextual()) {
                out.add(new RegistryEndpoint.ClientCert(path(file, base, c.asText(), "client"), null));
            } else if (c.isArray() && c.size() >= 1 && c.size() <= 2 && c.get(0).isTextual()) {
                String key = c.size() == 2 ? c.get(1).asText() : "";
                out.add(new RegistryEndpoint.ClientCert(path(file, base, c.get(0).asText(), "client"),
                        key.isEmpty() ? null : path(file, base, key, "client")));
            } else {
                throw invalid(file, "'client' entries must be paths or [cert, key] pairs");
            }
        }
        return out;
    }

    private static Map<String, List<String>> headers(Path file, JsonNode v) {
        if (v == null) {
            return Map.of();
        }
        if (!v.isObject()) {
            throw invalid(file, "'header' must be a table");
        }
        Map<String, List<String>> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> h : v.properties()) {
            if (!h.getKey().matches("[A-Za-z0-9!#$%&'*+.^_`|~-]+")) {
                throw invalid(file, "header name '" + h.getKey() + "' is not a valid HTTP header name");
            }
            if (RESTRICTED_HEADERS.contains(h.getKey().toLowerCase(java.util.Locale.ROOT))) {
                throw invalid(file, "header '" + h.getKey() + "' is set by the HTTP client itself and cannot be configured");
            }
            List<String> values = new ArrayList<>();
            if (h.getValue().isArray()) {
                h.getValue().forEach(x -> values.add(x.asText()));
            } else {
                values.add(h.getValue().asText());
            }
            for (String s : values) {
                if (s.indexOf('\r') >= 0 || s.indexOf('\n') >= 0) {
                    throw invalid(file, "header '" + h.getKey() + "' holds a line break");
                }
            }
            out.put(h.getKey(), List.copyOf(values));
        }
        return out;
    }

    /** A Go duration: {@code "1s"}, {@code "500ms"}, {@code "1m30s"}. */
    static Duration duration(Path file, JsonNode v) {
        String s = v.asText().trim();
        Matcher m = DURATION_PART.matcher(s);
        long nanos = 0;
        int at = 0;
        while (at < s.length() && m.find(at) && m.start() == at) {
            double n = Double.parseDouble(m.group(1));
            long unit = switch (m.group(2)) {
                case "ns" -> 1L;
                case "us", "µs" -> 1_000L;
                case "ms" -> 1_000_000L;
                case "s" -> 1_000_000_000L;
                case "m" -> 60_000_000_000L;
                default -> 3_600_000_000_000L;
            };
            nanos += (long) (n * unit);
            at = m.end();
        }
        if (s.isEmpty() || at != s.length() || nanos <= 0 || nanos > Duration.ofHours(1).toNanos()) {
            throw invalid(file, "'dial_timeout' must be a duration like \"1s\" or \"500ms\" (at most 1h); got '" + s + "'");
        }
        return Duration.ofNanos(nanos);
    }

    /** A namespace directory without hosts.toml: Docker's {@code *.crt} CAs and {@code *.cert}/{@code *.key} pairs. */
    private static RegistryEndpoint dockerCertsServer(Path nsDir, String registry, URI defaultServer) {
        List<Path> cas = new ArrayList<>();
        List<RegistryEndpoint.ClientCert> clients = new ArrayList<>();
        Set<String> names = new TreeSet<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(nsDir)) {
            for (Path p : ds) {
                names.add(p.getFileName().toString());
            }
        } catch (IOException e) {
            throw invalid(nsDir, "cannot list: " + e.getMessage());
        }
        for (String n : names) {
            if (n.endsWith(".crt")) {
                cas.add(nsDir.resolve(n));
            } else if (n.endsWith(".cert")) {
                String key = n.substring(0, n.length() - 5) + ".key";
                if (!names.contains(key)) {
                    throw invalid(nsDir, "client certificate " + n + " has no " + key);
                }
                clients.add(new RegistryEndpoint.ClientCert(nsDir.resolve(n), nsDir.resolve(key)));
            }
        }
        URI server = cas.isEmpty() && clients.isEmpty() ? defaultServer
                : URI.create("https://" + defaultServer.getRawAuthority());
        return new RegistryEndpoint(registry, RegistryEndpoint.apiRootOf(server, false), false,
                EnumSet.allOf(RegistryEndpoint.Capability.class), new RegistryEndpoint.Tls(cas, clients, false), Map.of(), null, true, null);
    }

    private static ImageException invalid(Path file, String why) {
        return new ImageException(ImageException.Reason.INVALID_ARGUMENT, "registry hosts file " + file + ": " + why);
    }

    static String dockerHubHost(String registry) {
        return registry.equals(ImageReference.DOCKER_HUB) ? "registry-1.docker.io" : registry;
    }
}
