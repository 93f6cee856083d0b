package io.coracle.runtime.config;

import io.coracle.sandbox.SandboxConfig.CgroupDriver;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** The daemon's effective configuration: built-in defaults, then the config file, then flags. */
public record DaemonConfig(
        Path socket,
        Path root,
        Path state,
        String logLevel,
        CgroupDriver cgroupDriver,
        Duration shutdownGrace,
        String cgroupParent,
        Path systemdBus,
        long podShmSizeBytes,
        Cni cni,
        Registry registry,
        Map<String, Path> runtimes,
        Metrics metrics,
        Streaming streaming,
        int eventSubscriberQueue,
        Path checkpointDir,
        Path criu,
        List<Path> cdiSpecDirs,
        String source) {

    /** The [cni] table. */
    public record Cni(List<Path> binDirs, Path confDir, String networkName, String defaultBridge, String defaultSubnet,
                      boolean defaultNetwork, Duration pluginTimeout) {}

    /** The [registry] table. */
    public record Registry(int maxConcurrentDownloads, int maxRetries, Duration requestTimeout, String platform,
                           Set<String> insecure, List<String> pinnedImages, Map<String, List<URI>> mirrors,
                           Map<String, Path> caFiles, Path configPath, Path authFile,
                           Map<String, List<Path>> signaturePolicy) {}

    /** The [metrics] table: the Prometheus endpoint. */
    public record Metrics(boolean enabled, InetAddress address, int port) {}

    /**
     * The [streaming] table: the exec/attach/port-forward server. TLS when both files are set
     * (else null).
     */
    public record Streaming(InetAddress address, int port, Path tlsCertFile, Path tlsKeyFile, Duration idleTimeout,
                            Duration tokenTtl) {}

    public static final Set<String> LOG_LEVELS = Set.of("debug", "info", "warn", "error");

    /**
     * Builds the configuration from parsed file values with flag values laid over them.
     * {@code source} names where the file values came from, for error messages.
     */
    public static DaemonConfig from(Map<String, Object> fileValues, Map<String, Object> flagValues, String source)
            throws ConfigException {
        Map<String, Object> v = new HashMap<>();
        for (ConfigKey key : ConfigSchema.KEYS) {
            if (!key.path().contains("*")) {
                v.put(key.path(), key.defaultValue());
            }
        }
        v.putAll(fileValues);
        v.putAll(flagValues);
        String origin = flagValues.isEmpty() ? source : source + " and flags";

        String logLevel = ((String) v.get("log_level")).toLowerCase(Locale.ROOT);
        if (!LOG_LEVELS.contains(logLevel)) {
            throw new ConfigException(origin + ": key 'log_level' must be one of debug, info, warn, error; got '"
                    + v.get("log_level") + "'");
        }
        String driver = (String) v.get("cgroup_driver");
        CgroupDriver cgroupDriver = switch (driver) {
            case "cgroupfs" -> CgroupDriver.CGROUPFS;
            case "systemd" -> CgroupDriver.SYSTEMD;
            default -> throw new ConfigException(origin + ": key 'cgroup_driver' must be cgroupfs or systemd; got '"
                    + driver + "'");
        };
        String parent = (String) v.get("cgroup_parent");
        if (cgroupDriver == CgroupDriver.SYSTEMD && !parent.isEmpty()
                && (!parent.matches("[A-Za-z0-9:_.\\\\-]+\\.slice") || parent.contains("--") || parent.startsWith("-"))) {
            throw new ConfigException(origin + ": key 'cgroup_parent' must be a systemd slice name (like coracle.slice)"
                    + " with cgroup_driver = \"systemd\"; got '" + parent + "'");
        }
        long grace = (Long) v.get("shutdown_grace_seconds");
        if (grace < 0 || grace > 3600) {
            throw new ConfigException(origin + ": key 'shutdown_grace_seconds' must be between 0 and 3600; got " + grace);
        }
        String bridge = (String) v.get("cni.default_bridge");
        if (bridge.isEmpty() || bridge.length() > 15 || !bridge.matches("[A-Za-z0-9_.-]+")) {
            throw new ConfigException(origin + ": key 'cni.default_bridge' must be an interface name of 1 to 15 "
                    + "letters, digits, '_', '.' or '-'; got '" + bridge + "'");
        }
        String subnet = (String) v.get("cni.default_subnet");
        if (!subnet.matches("\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}")) {
            throw new ConfigException(origin + ": key 'cni.default_subnet' must be an IPv4 CIDR like 10.88.0.0/16; got '"
                    + subnet + "'");
        }
        List<Path> binDirs = new ArrayList<>();
        for (Object dir : (List<?>) v.get("cni.bin_dirs")) {
            binDirs.add(absolute(String.valueOf(dir), "cni.bin_dirs", origin));
        }
        Cni cni = new Cni(List.copyOf(binDirs), absolutePath(v, "cni.conf_dir", origin),
                (String) v.get("cni.network_name"), bridge, subnet, (Boolean) v.get("cni.default_network"),
                Duration.ofSeconds(positive(v, "cni.plugin_timeout_seconds", 1, 3600, origin)));

        Map<String, List<URI>> mirrors = new LinkedHashMap<>();
        Map<String, Path> caFiles = new LinkedHashMap<>();
        Map<String, List<Path>> signaturePolicy = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : fileValues.entrySet()) {
            String key = e.getKey();
            if (key.startsWith("registry.mirrors.") && key.endsWith(".endpoints")) {
                String host = key.substring("registry.mirrors.".length(), key.length() - ".endpoints".length());
                List<URI> endpoints = new ArrayList<>();
                for (Object endpoint : (List<?>) e.getValue()) {
                    endpoints.add(endpoint(String.valueOf(endpoint), key, origin));
                }
                mirrors.put(host, List.copyOf(endpoints));
            } else if (key.startsWith("registry.ca_files.")) {
                caFiles.put(key.substring("registry.ca_files.".length()), absolute((String) e.getValue(), key, origin));
            } else if (key.startsWith("registry.signature_policy.") && key.endsWith(".public_keys")) {
                String scope = key.substring("registry.signature_policy.".length(), key.length() - ".public_keys".length());
                List<Path> keys = new ArrayList<>();
                for (Object k : (List<?>) e.getValue()) {
                    keys.add(absolute(String.valueOf(k), key, origin));
                }
                if (keys.isEmpty()) {
                    throw new ConfigException(origin + ": key '" + key + "' names no public key");
                }
                signaturePolicy.put(scope, List.copyOf(keys));
            }
        }
        List<Path> cdiSpecDirs = new ArrayList<>();
        for (Object dir : (List<?>) v.get("cdi.spec_dirs")) {
            cdiSpecDirs.add(absolute(String.valueOf(dir), "cdi.spec_dirs", origin));
        }
        Map<String, Path> runtimes = new java.util.TreeMap<>();
        for (Map.Entry<String, Object> e : fileValues.entrySet()) {
            String key = e.getKey();
            if (key.startsWith("runtimes.") && key.endsWith(".path")) {
                String name = key.substring("runtimes.".length(), key.length() - ".path".length());
                if (!name.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?")) {
                    throw new ConfigException(origin + ": key '" + key + "': handler name '" + name
                            + "' must be a DNS label, as RuntimeClass handlers are");
                }
                runtimes.put(name, absolute((String) e.getValue(), key, origin));
            }
        }
        Registry registry = new Registry(
                (int) positive(v, "registry.max_concurrent_downloads", 1, 64, origin),
                (int) positive(v, "registry.max_retries", 0, 100, origin),
                Duration.ofSeconds(positive(v, "registry.request_timeout_seconds", 1, 3600, origin)),
                (String) v.get("registry.platform"),
                Set.copyOf(strings(v.get("registry.insecure"))),
                List.copyOf(strings(v.get("registry.pinned_images"))),
                Map.copyOf(mirrors), Map.copyOf(caFiles), optionalPath(v, "registry.config_path", origin),
                optionalPath(v, "registry.auth_file", origin), Map.copyOf(signaturePolicy));
        Metrics metrics = new Metrics((Boolean) v.get("metrics.enabled"), ipLiteral(v, "metrics.address", origin),
                (int) positive(v, "metrics.port", 0, 65535, origin));
        String cert = (String) v.get("streaming.tls_cert_file"), key = (String) v.get("streaming.tls_key_file");
        if (cert.isEmpty() != key.isEmpty()) {
            throw new ConfigException(origin + ": keys 'streaming.tls_cert_file' and 'streaming.tls_key_file' go "
                    + "together; only " + (cert.isEmpty() ? "tls_key_file" : "tls_cert_file") + " is set");
        }
        Streaming streaming = new Streaming(ipLiteral(v, "streaming.address", origin),
                (int) positive(v, "streaming.port", 0, 65535, origin),
                cert.isEmpty() ? null : absolute(cert, "streaming.tls_cert_file", origin),
                key.isEmpty() ? null : absolute(key, "streaming.tls_key_file", origin),
                Duration.ofSeconds(positive(v, "streaming.idle_timeout_seconds", 1, 7 * 24 * 3600, origin)),
                Duration.ofSeconds(positive(v, "streaming.token_ttl_seconds", 1, 3600, origin)));

        return new DaemonConfig(
                absolutePath(v, "socket", origin),
                absolutePath(v, "root", origin),
                absolutePath(v, "state", origin),
                logLevel,
                cgroupDriver,
                Duration.ofSeconds(grace),
                (String) v.get("cgroup_parent"),
                absolutePath(v, "systemd_bus", origin),
                byteSize(v, "pod_shm_size", origin),
                cni,
                registry,
                Map.copyOf(runtimes),
                metrics,
                streaming,
                (int) positive(v, "events.subscriber_queue", 16, 1_000_000, origin),
                absolutePath(v, "checkpoint.dir", origin),
                optionalPath(v, "checkpoint.criu", origin),
                List.copyOf(cdiSpecDirs),
                source);
    }

    private static List<String> strings(Object list) {
        List<String> out = new ArrayList<>();
        for (Object o : (List<?>) list) {
            out.add(String.valueOf(o));
        }
        return out;
    }

    private static long positive(Map<String, Object> v, String key, long min, long max, String origin)
            throws ConfigException {
        long n = (Long) v.get(key);
        if (n < min || n > max) {
            throw new ConfigException(origin + ": key '" + key + "' must be between " + min + " and " + max + "; got " + n);
        }
        return n;
    }

    private static long byteSize(Map<String, Object> v, String key, String origin) throws ConfigException {
        String s = ((String) v.get(key)).trim();
        var m = java.util.regex.Pattern.compile("(\\d+)(Ki|Mi|Gi)?").matcher(s);
        if (!m.matches()) {
            throw new ConfigException(origin + ": key '" + key + "' must be a byte count like 67108864 or 64Mi; got '"
                    + s + "'");
        }
        long n = Long.parseLong(m.group(1));
        long unit = m.group(2) == null ? 1 : switch (m.group(2)) {
            case "Ki" -> 1L << 10;
            case "Mi" -> 1L << 20;
            default -> 1L << 30;
        };
        if (n <= 0) {
            throw new ConfigException(origin + ": key '" + key + "' must be positive; got '" + s + "'");
        }
        return n * unit;
    }

    /** An IPv4 or IPv6 literal, never a host name (no DNS lookup at start-up). */
    private static InetAddress ipLiteral(Map<String, Object> v, String key, String origin) throws ConfigException {
        String s = ((String) v.get(key)).trim();
        String bare = s.startsWith("[") && s.endsWith("]") ? s.substring(1, s.length() - 1) : s;
        boolean v4 = bare.matches("\\d{1,3}(\\.\\d{1,3}){3}");
        boolean v6 = bare.contains(":") && bare.matches("[0-9A-Fa-f:.]+");
        if (v4 || v6) {
            try {
                return InetAddress.getByName(bare);
            } catch (UnknownHostException e) {
                // falls through to the error below
            }
        }
        throw new ConfigException(origin + ": key '" + key + "' must be an IP address like 127.0.0.1 or ::1; got '"
                + s + "'");
    }

    private static URI endpoint(String s, String key, String origin) throws ConfigException {
        try {
            URI uri = new URI(s);
            if ((!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) || uri.getHost() == null) {
                throw new URISyntaxException(s, "not an http(s) URL with a host");
            }
            return uri;
        } catch (URISyntaxException e) {
            throw new ConfigException(origin + ": key '" + key + "' holds '" + s
                    + "', which is not an http:// or https:// URL");
        }
    }

    /** An absolute path, or null when the key is empty. */
    private static Path optionalPath(Map<String, Object> v, String key, String origin) throws ConfigException {
        String s = (String) v.get(key);
        return s.isEmpty() ? null : absolute(s, key, origin);
    }

    private static Path absolutePath(Map<String, Object> v, String key, String origin) throws ConfigException {
        return absolute((String) v.get(key), key, origin);
    }

    private static Path absolute(String s, String key, String origin) throws ConfigException {
        if (s.isEmpty() || !s.startsWith("/")) {
            throw new ConfigException(origin + ": key '" + key + "' must be an absolute path; got '" + s + "'");
        }
        return Path.of(s).normalize();
    }
}
