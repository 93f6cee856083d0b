package io.coracle.runtime.config;

import java.util.List;
import java.util.Optional;

/** Every key coracle.toml may hold, with its default: the single source for parsing and for `config default`. */
public final class ConfigSchema {
    public static final String DEFAULT_CONFIG_FILE = "/etc/coracle/coracle.toml";

    public static final List<ConfigKey> KEYS = List.of(
            ConfigKey.string("socket", "/run/coracle/coracle.sock",
                    "Unix socket serving the CRI (kubelet: --container-runtime-endpoint=unix://<socket>). Created 0660."),
            ConfigKey.string("root", "/var/lib/coracle",
                    "Persistent state: content store, layer snapshots, image records, container layers, metadata."),
            ConfigKey.string("state", "/run/coracle",
                    "Volatile state: shim sockets, exit files, network namespace mounts, per-pod runtime files."),
            ConfigKey.string("log_level", "info",
                    "Log level of the daemon's stderr log: debug, info, warn or error."),
            ConfigKey.string("cgroup_driver", "cgroupfs",
                    "How pod cgroups are named and managed: cgroupfs or systemd. Must match the kubelet's --cgroup-driver."),
            ConfigKey.integer("shutdown_grace_seconds", 10,
                    "On SIGTERM/SIGINT, how long in-flight CRI calls may run before they are cancelled."));

    private ConfigSchema() {
    }

    static Optional<ConfigKey> find(List<String> concretePath) {
        return KEYS.stream().filter(k -> k.matches(concretePath)).findFirst();
    }

    static boolean isTable(List<String> concretePath) {
        return KEYS.stream().anyMatch(k -> k.underTable(concretePath));
    }

    /** The full default configuration as commented TOML. */
    public static String defaultToml() {
        StringBuilder out = new StringBuilder();
        out.append("# Coracle configuration (default path ").append(DEFAULT_CONFIG_FILE).append(").\n");
        out.append("# Every key is optional: the values below are the built-in defaults.\n");
        out.append("# Command-line flags (--socket, --root, --state, --log-level) override this file.\n");
        String table = "";
        for (ConfigKey key : KEYS) {
            int dot = key.path().lastIndexOf('.');
            String keyTable = dot < 0 ? "" : key.path().substring(0, dot);
            String name = dot < 0 ? key.path() : key.path().substring(dot + 1);
            if (!keyTable.equals(table)) {
                out.append("\n[").append(keyTable).append("]\n");
                table = keyTable;
            }
            out.append("\n# ").append(key.doc()).append('\n');
            out.append(name).append(" = ").append(tomlValue(key.defaultValue())).append('\n');
        }
        return out.toString();
    }

    private static String tomlValue(Object value) {
        if (value instanceof String s) {
            return quote(s);
        }
        if (value instanceof List<?> list) {
            StringBuilder b = new StringBuilder("[");
            for (int i = 0; i < list.size(); i++) {
                b.append(i == 0 ? "" : ", ").append(quote(String.valueOf(list.get(i))));
            }
            return b.append(']').toString();
        }
        return String.valueOf(value);
    }

    private static String quote(String s) {
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }
}
