package io.coracle.image;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the image service needs from the daemon's configuration.
 *
 * @param root                   state directory: blobs, snapshots, image records, leases
 * @param mirrors                registry host → endpoints tried in order before the registry itself,
 *                               e.g. {@code "docker.io" → [http://127.0.0.1:5000]}
 * @param insecureRegistries     registry hosts reached over plain HTTP (localhost and 127/8 always are)
 * @param caFiles                registry host → PEM file of CA certificates trusted for it
 * @param maxConcurrentDownloads blob downloads in flight at once, over all pulls
 * @param pinnedImages           references reported as pinned (never GC'd by the kubelet), e.g. the pause image
 * @param containerRoot          where container writable layers live, for ImageFsInfo; null if unknown
 * @param platform               the node platform, e.g. {@code linux/amd64} or {@code linux/arm64/v8}
 * @param requestTimeout         per-request timeout for registry calls (headers; not a whole blob)
 * @param maxRetries             retries of a registry request after 5xx or a broken connection
 * @param hostsDir               containerd-style {@code certs.d} directory ({@code <host>/hosts.toml},
 *                               {@code _default/hosts.toml}), re-read when it changes; null: none
 * @param authFile               Docker-style {@code config.json}/{@code auth.json} with node-wide credentials; null: none
 * @param proxyEnvironment       the daemon's environment, for HTTPS_PROXY, HTTP_PROXY and NO_PROXY
 * @param signaturePolicy        scope (registry host, or registry/repository prefix) → PEM public keys, one of
 *                               which must have signed (cosign) every image pulled in that scope
 */
public record ImageServiceConfig(
        Path root,
        Map<String, List<URI>> mirrors,
        Set<String> insecureRegistries,
        Map<String, Path> caFiles,
        int maxConcurrentDownloads,
        List<String> pinnedImages,
        Path containerRoot,
        String platform,
        Duration requestTimeout,
        int maxRetries,
        Path hostsDir,
        Path authFile,
        Map<String, String> proxyEnvironment,
        Map<String, List<Path>> signaturePolicy) {

    public ImageServiceConfig {
        mirrors = Map.copyOf(mirrors);
        insecureRegistries = Set.copyOf(insecureRegistries);
        caFiles = Map.copyOf(caFiles);
        pinnedImages = List.copyOf(pinnedImages);
        // Only the proxy variables are kept from the environment handed in.
        proxyEnvironment = proxyEnvironment.entrySet().stream().filter(e -> PROXY_VARIABLES.contains(e.getKey()))
                .collect(java.util.stream.Collectors.toUnmodifiableMap(Map.Entry::getKey, Map.Entry::getValue));
        signaturePolicy = Map.copyOf(signaturePolicy);
        if (maxConcurrentDownloads < 1) {
            throw new IllegalArgumentException("maxConcurrentDownloads must be >= 1");
        }
    }

    /** The environment variables a pull reads. */
    public static final Set<String> PROXY_VARIABLES = Set.of("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
            "NO_PROXY", "no_proxy");

    /** Never the proxy URLs: they may hold the proxy's password. */
    @Override
    public String toString() {
        return "ImageServiceConfig[root=" + root + ", hostsDir=" + hostsDir + ", authFile=" + authFile + ", platform=" + platform
                + ", proxyVariables=" + new java.util.TreeSet<>(proxyEnvironment.keySet()) + ", signatureScopes=" + signaturePolicy.keySet() + "]";
    }

    /** Defaults for a root: no mirrors, hosts directory, proxy or policy; 3 concurrent downloads, the running platform. */
    public static ImageServiceConfig defaults(Path root) {
        return new ImageServiceConfig(root, Map.of(), Set.of(), Map.of(), 3, List.of(), null,
                Platform.current().toString(), Duration.ofSeconds(30), 5, null, null, Map.of(), Map.of());
    }

    public ImageServiceConfig withMirrors(Map<String, List<URI>> m) {
        return new ImageServiceConfig(root, m, insecureRegistries, caFiles, maxConcurrentDownloads, pinnedImages,
                containerRoot, platform, requestTimeout, maxRetries, hostsDir, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withInsecureRegistries(Set<String> s) {
        return new ImageServiceConfig(root, mirrors, s, caFiles, maxConcurrentDownloads, pinnedImages,
                containerRoot, platform, requestTimeout, maxRetries, hostsDir, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withMaxRetries(int n) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, maxConcurrentDownloads, pinnedImages,
                containerRoot, platform, requestTimeout, n, hostsDir, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withPinnedImages(List<String> p) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, maxConcurrentDownloads, p,
                containerRoot, platform, requestTimeout, maxRetries, hostsDir, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withMaxConcurrentDownloads(int n) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, n, pinnedImages,
                containerRoot, platform, requestTimeout, maxRetries, hostsDir, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withCaFiles(Map<String, Path> c) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, c, maxConcurrentDownloads, pinnedImages,
                containerRoot, platform, requestTimeout, maxRetries, hostsDir, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withContainerRoot(Path c) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, maxConcurrentDownloads, pinnedImages,
                c, platform, requestTimeout, maxRetries, hostsDir, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withRequestTimeout(Duration t) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, maxConcurrentDownloads, pinnedImages,
                containerRoot, platform, t, maxRetries, hostsDir, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withPlatform(String p) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, maxConcurrentDownloads, pinnedImages,
                containerRoot, p, requestTimeout, maxRetries, hostsDir, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withHostsDir(Path d) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, maxConcurrentDownloads, pinnedImages,
                containerRoot, platform, requestTimeout, maxRetries, d, authFile, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withAuthFile(Path f) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, maxConcurrentDownloads, pinnedImages,
                containerRoot, platform, requestTimeout, maxRetries, hostsDir, f, proxyEnvironment, signaturePolicy);
    }

    public ImageServiceConfig withProxyEnvironment(Map<String, String> env) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, maxConcurrentDownloads, pinnedImages,
                containerRoot, platform, requestTimeout, maxRetries, hostsDir, authFile, env, signaturePolicy);
    }

    public ImageServiceConfig withSignaturePolicy(Map<String, List<Path>> p) {
        return new ImageServiceConfig(root, mirrors, insecureRegistries, caFiles, maxConcurrentDownloads, pinnedImages,
                containerRoot, platform, requestTimeout, maxRetries, hostsDir, authFile, proxyEnvironment, p);
    }
}
