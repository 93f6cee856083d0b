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
                    "On SIGTERM/SIGINT, how long in-flight CRI calls may run before they are cancelled."),
            ConfigKey.string("cgroup_parent", "",
                    "Parent cgroup of pods whose config names none (default /coracle, or coracle.slice with systemd)."),
            ConfigKey.string("systemd_bus", "/run/dbus/system_bus_socket",
                    "The system bus (a unix socket) on which systemd starts pod slices and container scopes when\n"
                            + "# cgroup_driver = \"systemd\"; the daemon refuses to start with that driver if systemd is not reachable there."),
            ConfigKey.string("pod_shm_size", "64Mi",
                    "Size of each pod's /dev/shm tmpfs (bytes, or with a Ki/Mi/Gi suffix)."),
            ConfigKey.stringList("cdi.spec_dirs", List.of("/etc/cdi", "/var/run/cdi"),
                    "Directories of CDI device specs (JSON or YAML), read at each container that asks for a CDI device;\n"
                            + "# a device in a later directory overrides the same device in an earlier one."),

            ConfigKey.stringList("cni.bin_dirs", List.of("/opt/cni/bin", "/usr/lib/cni"),
                    "Directories searched for CNI plugins, in order."),
            ConfigKey.string("cni.conf_dir", "/etc/cni/net.d",
                    "CNI network configurations (.conflist, .conf, .json), read at each pod: a file added later is used\n"
                            + "# without a restart. While none is there, the node reports NetworkReady=false."),
            ConfigKey.bool("cni.default_network", false,
                    "Write a default bridge network (default_bridge, default_subnet) into an empty conf_dir at start:\n"
                            + "# for a node on its own. Leave it off in a cluster, whose network plugin installs its own."),
            ConfigKey.string("cni.network_name", "",
                    "The CNI network pods join, by name; empty: the first configuration file in lexical order."),
            ConfigKey.string("cni.default_bridge", "coracle0",
                    "Bridge of the default network (default_network = true)."),
            ConfigKey.string("cni.default_subnet", "10.88.0.0/16",
                    "Subnet of the default network (default_network = true)."),
            ConfigKey.integer("cni.plugin_timeout_seconds", 120,
                    "How long one CNI plugin call (ADD, DEL, CHECK) may take; then the plugin is killed and the call fails."),

            ConfigKey.integer("events.subscriber_queue", 1000,
                    "GetContainerEvents: events a subscriber may fall behind before it is dropped (its stream\n"
                            + "# ends with RESOURCE_EXHAUSTED); also how many events are held for the next subscriber\n"
                            + "# while none is connected (for at most 5 minutes)."),

            ConfigKey.string("checkpoint.dir", "/var/lib/kubelet/checkpoints",
                    "CheckpointContainer writes its archives here only (the kubelet's checkpoint directory): a\n"
                            + "# location elsewhere, with \"..\" or through a symlink is refused."),
            ConfigKey.string("checkpoint.criu", "",
                    "The criu executable (absolute) for checkpoints and restores; empty: the first of /usr/sbin/criu,\n"
                            + "# /usr/bin/criu, /sbin/criu, /usr/local/sbin/criu, /usr/local/bin/criu."),

            ConfigKey.bool("metrics.enabled", true,
                    "Serve Prometheus metrics over HTTP at http://<address>:<port>/metrics."),
            ConfigKey.string("metrics.address", "127.0.0.1",
                    "IP address the metrics endpoint listens on (an IPv4 or IPv6 literal; 0.0.0.0 for every interface)."),
            ConfigKey.integer("metrics.port", 9465,
                    "TCP port of the metrics endpoint (0: any free port, logged at start)."),

            ConfigKey.string("streaming.address", "127.0.0.1",
                    "IP address of the streaming server (exec, attach, port-forward URLs); 0.0.0.0 for every\n"
                            + "# interface, the URLs then name the node's first non-loopback address."),
            ConfigKey.integer("streaming.port", 0,
                    "TCP port of the streaming server (0: any free port)."),
            ConfigKey.string("streaming.tls_cert_file", "",
                    "PEM certificate chain: serve https:// (with tls_key_file, a PKCS#8 PEM key)."),
            ConfigKey.string("streaming.tls_key_file", "",
                    "PEM (PKCS#8) private key of tls_cert_file."),
            ConfigKey.integer("streaming.idle_timeout_seconds", 4 * 3600,
                    "A streaming connection with no traffic for this long is closed."),
            ConfigKey.integer("streaming.token_ttl_seconds", 60,
                    "How long the URL of an Exec, Attach or PortForward call can be used (once)."),

            ConfigKey.string("runtimes.*.path", "",
                    "Runtime handlers (RuntimeClass): an OCI runtime that runs the containers of pods asking for that\n"
                            + "# handler, under Coracle's shim. The default handler (\"\") is Coracle's own shim.\n"
                            + "# Example: [runtimes.runc] path = \"/usr/sbin/runc\""),
            ConfigKey.integer("registry.max_concurrent_downloads", 3,
                    "Blob downloads in flight at once, over all pulls."),
            ConfigKey.integer("registry.max_retries", 5,
                    "Retries of a registry request after a 5xx answer or a broken connection (with backoff)."),
            ConfigKey.integer("registry.request_timeout_seconds", 30,
                    "Timeout of one registry request's answer (not of a whole blob)."),
            ConfigKey.string("registry.platform", "",
                    "Platform images are pulled for, e.g. linux/amd64 or linux/arm64/v8; empty: this node's."),
            ConfigKey.stringList("registry.insecure", List.of(),
                    "Deprecated (use config_path): registries (host[:port]) reached over plain HTTP; localhost and\n"
                            + "# 127.0.0.0/8 always are."),
            ConfigKey.stringList("registry.pinned_images", List.of(),
                    "Images reported as pinned, which the kubelet's image GC never removes."),
            ConfigKey.string("registry.config_path", "/etc/coracle/certs.d",
                    "containerd's registry hosts directory: <host>/hosts.toml (or <host>_<port>_/, _default/) with\n"
                            + "# server, [host.\"URL\"] mirrors, capabilities, ca, client, skip_verify, header, override_path,\n"
                            + "# dial_timeout; read as containerd reads it, edits apply to the next pull. Empty: none."),
            ConfigKey.string("registry.auth_file", "",
                    "Docker config.json / auth.json with node-wide credentials ({\"auths\": {...}}), used for pulls\n"
                            + "# whose request carries none; re-read when it changes. Empty: none."),
            ConfigKey.stringList("registry.signature_policy.*.public_keys", List.of(),
                    "Images in this scope (a registry, or registry/repository prefix) must carry a cosign signature by\n"
                            + "# one of these PEM public keys, checked before any layer is fetched; others are refused.\n"
                            + "# Example: [registry.signature_policy.\"registry.example/prod\"] public_keys = [\"/etc/coracle/cosign.pub\"]"),
            ConfigKey.stringList("registry.mirrors.*.endpoints", List.of(),
                    "Deprecated (use config_path): mirrors of a registry, tried in order before the registry itself.\n"
                            + "# Example: [registry.mirrors.\"docker.io\"] endpoints = [\"http://127.0.0.1:5000\"]"),
            ConfigKey.string("registry.ca_files.*", "",
                    "Deprecated (use config_path): PEM file of CA certificates trusted for one registry.\n"
                            + "# Example: [registry.ca_files] \"registry.example:5000\" = \"/etc/coracle/certs/example.pem\""));

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
            if (key.path().contains("*")) {
                // Tables keyed by registry name: shown as commented examples only.
                out.append("\n# ").append(key.doc()).append('\n');
                continue;
            }
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
