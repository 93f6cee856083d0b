package io.coracle.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import io.coracle.sys.PrivateFiles;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * Finds the pod network in the CNI conf dir: the configured network name, else the first
 * .conflist/.conf/.json in lexical order. A single-plugin .conf becomes a one-plugin list.
 * Writes an embedded bridge + host-local + portmap list when the dir holds no config.
 */
final class CniConfigLoader {
    private static final Logger LOG = Logger.getLogger(CniConfigLoader.class.getName());
    static final String DEFAULT_FILE = "10-coracle.conflist";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SandboxConfig config;

    CniConfigLoader(SandboxConfig config) {
        this.config = config;
    }

    /** A network configuration list: name, version, plugins in order. */
    record NetworkList(Path file, String name, String cniVersion, List<ObjectNode> plugins, boolean disableCheck) {
        String json() {
            ObjectNode o = JSON.createObjectNode();
            o.put("cniVersion", cniVersion).put("name", name).put("disableCheck", disableCheck);
            ArrayNode a = o.putArray("plugins");
            plugins.forEach(a::add);
            return o.toString();
        }

        static NetworkList parse(Path file, String json) throws IOException {
            JsonNode root = JSON.readTree(json);
            if (root == null || !root.isObject()) {
                throw new IOException(file + ": not a JSON object");
            }
            String name = root.path("name").asText("");
            String version = root.path("cniVersion").asText("");
            if (name.isEmpty()) {
                throw new IOException(file + ": network has no name");
            }
            List<ObjectNode> plugins = new ArrayList<>();
            if (root.has("plugins")) {
                for (JsonNode p : root.get("plugins")) {
                    if (!p.isObject() || p.path("type").asText("").isEmpty()) {
                        throw new IOException(file + ": a plugin without a type");
                    }
                    plugins.add((ObjectNode) p);
                }
            } else if (!root.path("type").asText("").isEmpty()) {
                plugins.add((ObjectNode) root); // a single-plugin .conf
            }
            if (plugins.isEmpty()) {
                throw new IOException(file + ": no plugins");
            }
            return new NetworkList(file, name, version.isEmpty() ? "0.2.0" : version, List.copyOf(plugins),
                    root.path("disableCheck").asBoolean(false));
        }
    }

    /**
     * Writes the embedded default when the default network is enabled and the conf dir is missing or
     * holds no config; returns whether it did.
     */
    boolean writeDefaultIfEmpty() throws IOException {
        if (!config.defaultNetwork() || !configFiles().isEmpty()) {
            return false;
        }
        Files.createDirectories(config.cniConfDir());
        Path target = config.cniConfDir().resolve(DEFAULT_FILE);
        PrivateFiles.write(target, defaultConflist().getBytes(StandardCharsets.UTF_8), PrivateFiles.READABLE, true);
        LOG.info("cni: wrote default network config " + target + " (bridge " + config.defaultBridge() + ", subnet "
                + config.defaultSubnet() + ")");
        return true;
    }

    /**
     * Gives the node's pod CIDR (from the kubelet's UpdateRuntimeConfig) to the default network, when
     * the default network is the only config and is Coracle's own; a config the operator wrote is left
     * alone. Returns whether the file changed; pods started before keep their addresses.
     */
    boolean applyPodCidr(String cidr) throws IOException {
        List<Path> files = configFiles();
        Path ours = config.cniConfDir().resolve(DEFAULT_FILE);
        if (files.size() != 1 || !files.get(0).equals(ours)) {
            return false;
        }
        String current = Files.readString(ours, StandardCharsets.UTF_8);
        String subnet = JSON.readTree(current).path("plugins").path(0).path("ipam").path("ranges").path(0).path(0)
                .path("subnet").asText("");
        if (subnet.equals(cidr) || !current.equals(defaultConflist(subnet))) {
            return false; // already so, or edited by hand
        }
        PrivateFiles.write(ours, defaultConflist(cidr).getBytes(StandardCharsets.UTF_8), PrivateFiles.READABLE, true);
        LOG.info("cni: default network " + ours + " now uses the pod CIDR " + cidr + " (was " + subnet + ")");
        return true;
    }

    String defaultConflist() {
        return defaultConflist(config.defaultSubnet());
    }

    private String defaultConflist(String subnet) {
        String name = config.defaultBridge().equals("coracle0") ? "coracle" : config.defaultBridge();
        return """
                {
                  "cniVersion": "1.0.0",
                  "name": "%s",
                  "plugins": [
                    {
                      "type": "bridge",
                      "bridge": "%s",
                      "isGateway": true,
                      "ipMasq": true,
                      "hairpinMode": true,
                      "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": "%s"}]],
                        "routes": [{"dst": "0.0.0.0/0"}]
                      }
                    },
                    {"type": "portmap", "capabilities": {"portMappings": true}}
                  ]
                }
                """.formatted(name, config.defaultBridge(), subnet);
    }

    List<Path> configFiles() throws IOException {
        if (!Files.isDirectory(config.cniConfDir())) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(config.cniConfDir())) {
            return s.filter(p -> {
                String n = p.getFileName().toString();
                return !n.startsWith(".") && (n.endsWith(".conflist") || n.endsWith(".conf") || n.endsWith(".json"))
                        && Files.isRegularFile(p);
            }).sorted().toList();
        }
    }

    /** The pod network; IOException saying why when there is none usable. */
    NetworkList load() throws IOException {
        List<Path> files = configFiles();
        if (files.isEmpty()) {
            throw new IOException("no network config in " + config.cniConfDir());
        }
        IOException firstError = null;
        for (Path f : files) {
            try {
                NetworkList n = NetworkList.parse(f, Files.readString(f));
                if (config.cniNetworkName().isEmpty() || config.cniNetworkName().equals(n.name())) {
                    return n;
                }
            } catch (IOException e) {
                if (!config.cniNetworkName().isEmpty() || firstError == null) {
                    firstError = e;
                }
                if (config.cniNetworkName().isEmpty()) {
                    throw e; // the first file is the network: a broken one is an error, not skipped
                }
            }
        }
        throw firstError != null ? firstError
                : new IOException("no network named '" + config.cniNetworkName() + "' in " + config.cniConfDir());
    }

    /** The plugin executable for a type, searched in the bin dirs in order. */
    Path plugin(String type) throws IOException {
        if (type.contains("/")) {
            throw new IOException("CNI plugin type '" + type + "' contains '/'");
        }
        for (Path dir : config.cniBinDirs()) {
            Path p = dir.resolve(type);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p;
            }
        }
        throw new IOException("CNI plugin '" + type + "' not found in " + config.cniBinDirs());
    }

    String cniPath() {
        return String.join(":", config.cniBinDirs().stream().map(Path::toString).toList());
    }
}
