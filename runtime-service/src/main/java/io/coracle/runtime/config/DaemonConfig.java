package io.coracle.runtime.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
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
        String source) {

    /** How pod cgroups are named: plain cgroupfs paths or systemd slices. */
    public enum CgroupDriver { CGROUPFS, SYSTEMD }

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
        long grace = (Long) v.get("shutdown_grace_seconds");
        if (grace < 0 || grace > 3600) {
            throw new ConfigException(origin + ": key 'shutdown_grace_seconds' must be between 0 and 3600; got " + grace);
        }
        return new DaemonConfig(
                absolutePath(v, "socket", origin),
                absolutePath(v, "root", origin),
                absolutePath(v, "state", origin),
                logLevel,
                cgroupDriver,
                Duration.ofSeconds(grace),
                source);
    }

    private static Path absolutePath(Map<String, Object> v, String key, String origin) throws ConfigException {
        String s = (String) v.get(key);
        if (s.isEmpty() || !s.startsWith("/")) {
            throw new ConfigException(origin + ": key '" + key + "' must be an absolute path; got '" + s + "'");
        }
        return Path.of(s).normalize();
    }
}
