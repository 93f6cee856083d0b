package io.coracle.image.registry;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One place to fetch a registry's content from: the registry itself or a mirror, with the settings a
 * containerd {@code hosts.toml} gives it.
 *
 * @param registry         the registry host the image is named after (e.g. {@code docker.io})
 * @param apiRoot          scheme://host[:port][/prefix] the distribution routes hang under (usually ending in {@code /v2})
 * @param mirror           true for a host other than the registry's own server ({@code ?ns=} names the registry)
 * @param capabilities     what the host is trusted for: pull (by digest), resolve (tag to digest), push
 * @param tls              CA files, client certificates, skip_verify
 * @param headers          extra request headers
 * @param dialTimeout      connect timeout, null: the request timeout
 * @param sendsCredentials whether the pull's credentials go to this host (it serves the credentials' registry)
 * @param proxy            hosts.toml's {@code proxy} (http://[user:password@]host:port) for this host, over the
 *                         environment's; null: the environment's HTTP(S)_PROXY/NO_PROXY
 */
public record RegistryEndpoint(String registry, URI apiRoot, boolean mirror, Set<Capability> capabilities, Tls tls,
                               Map<String, List<String>> headers, Duration dialTimeout, boolean sendsCredentials, URI proxy) {

    /** What a host may be asked to do (containerd's capabilities). */
    public enum Capability { PULL, RESOLVE, PUSH }

    /** TLS settings of a host: extra CAs (beside the system's), client certificate/key pairs, skip_verify. */
    public record Tls(List<Path> cas, List<ClientCert> clients, boolean skipVerify) {
        public static final Tls DEFAULT = new Tls(List.of(), List.of(), false);

        public Tls {
            cas = List.copyOf(cas);
            clients = List.copyOf(clients);
        }
    }

    /** A client certificate chain and its key; {@code key} null when the key is in the certificate file. */
    public record ClientCert(Path cert, Path key) {
    }

    public RegistryEndpoint {
        capabilities = capabilities.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(capabilities));
        headers = Map.copyOf(headers);
    }

    /** A host at {@code base} (no {@code /v2}) with every capability and default TLS; credentials only for the registry itself. */
    public RegistryEndpoint(String registry, URI base, boolean mirror) {
        this(registry, apiRootOf(base, false), mirror, EnumSet.allOf(Capability.class), Tls.DEFAULT, Map.of(), null, !mirror, null);
    }

    /** The API root of a host URL: its path plus {@code /v2} unless it ends so, or the path as is with override_path. */
    static URI apiRootOf(URI url, boolean overridePath) {
        String s = url.toString();
        while (s.endsWith("/")) {
            s = s.substring(0, s.length() - 1);
        }
        if (!overridePath && !s.endsWith("/v2")) {
            s += "/v2";
        }
        return URI.create(s);
    }

    /** The URL of a distribution route given as {@code /v2/...}; a mirror's carries {@code ns=<registry>}. */
    public URI route(String path) {
        String rest = path.startsWith("/v2/") ? path.substring(3) : path;
        String root = apiRoot.toString();
        String url = root + rest;
        if (mirror) {
            url += (url.contains("?") ? "&" : "?") + "ns=" + java.net.URLEncoder.encode(registry, java.nio.charset.StandardCharsets.UTF_8);
        }
        return URI.create(url);
    }

    public boolean can(Capability c) {
        return capabilities.contains(c);
    }

    /** The scheme://host[:port] the requests go to. */
    public URI base() {
        return URI.create(apiRoot.getScheme() + "://" + apiRoot.getRawAuthority());
    }

    public String host() {
        return apiRoot.getAuthority();
    }

    @Override
    public String toString() { // never the proxy: its URL may hold a password
        return apiRoot + (mirror ? " (mirror of " + registry + ")" : "");
    }
}
