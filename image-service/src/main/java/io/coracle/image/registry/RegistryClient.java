package io.coracle.image.registry;

import io.coracle.cri.CriStatus;
import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import io.coracle.image.ImageReference;
import io.coracle.image.ImageServiceConfig;
import io.coracle.image.content.BlobProgress;
import io.coracle.image.content.ContentStore;
import io.coracle.image.content.MediaTypes;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.logging.Logger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The registry facade the image service uses: resolves a registry to its endpoints (configured
 * mirrors in order, then the registry itself), and pulls manifests and blobs with fallback across
 * them. Blob downloads are bounded globally, and concurrent requests for one blob share one download.
 */
public final class RegistryClient implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(RegistryClient.class.getName());

    static {
        // The JDK's HttpClient reads 16 KiB at a time and re-arms its selector after each read: most of
        // a download's CPU under the daemon's C1 JIT. 256 KiB reads take a quarter of it. Read once, when
        // the first client is built (only this class builds them); an operator's -D setting wins.
        if (System.getProperty("jdk.httpclient.bufsize") == null) {
            System.setProperty("jdk.httpclient.bufsize", Integer.toString(256 * 1024));
        }
    }

    private final ImageServiceConfig config;
    private final ContentStore store;
    private final Semaphore downloads;
    private final Map<String, RegistryTransport> transports = new ConcurrentHashMap<>();
    private final Map<Digest, CompletableFuture<Void>> inFlight = new ConcurrentHashMap<>();
    private final Duration backoff;
    private final HostsDirectory hostsDir;
    private final ProxyEnvironment proxies;
    private final PullProgress progress = new PullProgress();

    public RegistryClient(ImageServiceConfig config, ContentStore store) {
        this(config, store, Duration.ofMillis(200));
    }

    RegistryClient(ImageServiceConfig config, ContentStore store, Duration backoff) {
        this.config = config;
        this.store = store;
        this.downloads = new Semaphore(config.maxConcurrentDownloads(), true);
        this.backoff = backoff;
        this.hostsDir = new HostsDirectory(config.hostsDir());
        this.proxies = ProxyEnvironment.from(config.proxyEnvironment());
        if (!config.mirrors().isEmpty() || !config.insecureRegistries().isEmpty() || !config.caFiles().isEmpty()) {
            LOG.warning("[registry] mirrors, insecure and ca_files are deprecated: they still apply to registries that have no"
                    + " directory under config_path" + (config.hostsDir() == null ? "" : " (" + config.hostsDir() + ")")
                    + "; move them to <host>/hosts.toml there (see the README)");
        }
    }

    /** Pulls in flight, bytes per layer download and stalls, for metrics. */
    public PullProgress progress() {
        return progress;
    }

    /** A pulled manifest or index. */
    public record Manifest(byte[] bytes, String mediaType, Digest digest) {
    }

    /** Endpoints for a registry that may pull: see {@link #endpoints(String, RegistryEndpoint.Capability)}. */
    public List<RegistryEndpoint> endpoints(String registry) {
        return endpoints(registry, RegistryEndpoint.Capability.PULL);
    }

    /**
     * The hosts to ask, in order, for an operation needing {@code need}: from the hosts directory
     * ({@code [host."..."]} entries, then {@code server}), else from the deprecated keys (mirrors, then the
     * registry itself, over HTTPS unless insecure or loopback).
     */
    public List<RegistryEndpoint> endpoints(String registry, RegistryEndpoint.Capability need) {
        String host = HostsDirectory.dockerHubHost(registry);
        URI defaultServer = URI.create((isPlainHttp(registry) ? "http" : "https") + "://" + host);
        List<RegistryEndpoint> all = hostsDir.lookup(registry, defaultServer);
        if (all == null) {
            all = new ArrayList<>();
            for (URI mirror : config.mirrors().getOrDefault(registry, List.of())) {
                all.add(new RegistryEndpoint(registry, mirror, true));
            }
            Path ca = config.caFiles().get(registry);
            RegistryEndpoint.Tls tls = ca == null ? RegistryEndpoint.Tls.DEFAULT : new RegistryEndpoint.Tls(List.of(ca), List.of(), false);
            all.add(new RegistryEndpoint(registry, RegistryEndpoint.apiRootOf(defaultServer, false), false,
                    java.util.EnumSet.allOf(RegistryEndpoint.Capability.class), tls, Map.of(), null, true, null));
        }
        List<RegistryEndpoint> out = all.stream().filter(e -> e.can(need)).toList();
        if (out.isEmpty()) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "no configured host of registry " + registry
                    + " has the '" + need.name().toLowerCase(java.util.Locale.ROOT) + "' capability");
        }
        return out;
    }

    /** Plain HTTP for insecure registries and loopback hosts, unless a CA file is configured (then TLS). */
    boolean isPlainHttp(String registry) {
        if (config.caFiles().containsKey(registry)) {
            return false;
        }
        if (config.insecureRegistries().contains(registry)) {
            return true;
        }
        String host = registry.replaceFirst(":[0-9]+$", "");
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.equals("localhost")) {
            return true;
        }
        if (host.matches("[0-9.]+|[0-9a-fA-F:]+")) {
            try {
                return InetAddress.getByName(host).isLoopbackAddress();
            } catch (UnknownHostException e) {
                return false;
            }
        }
        return false;
    }

    /** Pulls the manifest {@code reference} (tag or digest) of {@code ref}'s repository. */
    public Manifest pullManifest(ImageReference ref, String reference, Credentials creds) {
        List<ImageException> failures = new ArrayList<>();
        // Turning a tag into a digest needs a host trusted to resolve; content by digest any host that pulls.
        RegistryEndpoint.Capability need = io.coracle.image.Digest.isDigest(reference)
                ? RegistryEndpoint.Capability.PULL : RegistryEndpoint.Capability.RESOLVE;
        for (RegistryEndpoint e : endpoints(ref.registry(), need)) {
            try {
                ManifestPuller.Pulled p = new ManifestPuller(transport(e)).pull(e, ref.repository(), reference, MediaTypes.MANIFEST_ACCEPT, credsFor(e, creds));
                LOG.info("manifest pulled ref=" + ref.name() + ":" + reference + " digest=" + p.digest() + " endpoint=" + e.base());
                return new Manifest(p.bytes(), p.mediaType(), p.digest());
            } catch (ImageException ex) {
                if (CriStatus.noSpace(ex) != null) {
                    throw ex; // the node's disk is full: no other host helps
                }
                failures.add(ex);
                if (e.mirror()) {
                    LOG.info("mirror failed, falling back: " + ex.getMessage());
                }
            }
        }
        throw combined(failures);
    }

    /** Ensures blob {@code digest} is in the content store, downloading it if needed. */
    public void pullBlob(ImageReference ref, Digest digest, long size, Credentials creds) {
        pullBlob(ref, digest, size, creds, new BlobProgress());
    }

    /** As {@link #pullBlob(ImageReference, Digest, long, Credentials)}, reporting bytes to {@code progress}. */
    public void pullBlob(ImageReference ref, Digest digest, long size, Credentials creds, BlobProgress progress) {
        RegistryLimits.checkSize(size, RegistryLimits.MAX_BLOB_BYTES, "blob " + digest + " of " + ref);
        if (store.contains(digest)) {
            progress.abandon();
            return;
        }
        CompletableFuture<Void> mine = new CompletableFuture<>();
        CompletableFuture<Void> existing = inFlight.putIfAbsent(digest, mine);
        if (existing != null) {
            LOG.fine(() -> "blob download shared digest=" + digest);
            progress.abandon();
            join(existing);
            return;
        }
        try {
            if (!store.contains(digest)) {
                downloads.acquireUninterruptibly();
                try {
                    pullBlobFromEndpoints(ref, digest, size, creds, progress);
                } finally {
                    downloads.release();
                }
            }
            progress.finish();
            mine.complete(null);
        } catch (RuntimeException ex) {
            progress.fail(ex);
            mine.completeExceptionally(ex);
            throw ex;
        } finally {
            inFlight.remove(digest, mine);
        }
    }

    private void pullBlobFromEndpoints(ImageReference ref, Digest digest, long size, Credentials creds, BlobProgress progress) {
        List<ImageException> failures = new ArrayList<>();
        long start = System.nanoTime();
        for (RegistryEndpoint e : endpoints(ref.registry())) {
            try {
                new BlobPuller(transport(e), this.progress).pull(e, ref.repository(), digest, size, credsFor(e, creds), store, progress);
                LOG.info("blob pulled digest=" + digest + " size=" + size + " endpoint=" + e.base()
                        + " ms=" + (System.nanoTime() - start) / 1_000_000);
                return;
            } catch (ImageException ex) {
                if (CriStatus.noSpace(ex) != null) {
                    throw ex; // the node's disk is full: no other host helps
                }
                failures.add(ex);
                if (e.mirror()) {
                    LOG.info("mirror failed, falling back: " + ex.getMessage());
                }
            }
        }
        throw combined(failures);
    }

    /** The pull's credentials go only to hosts that serve the credentials' registry; others are asked anonymously. */
    private static Credentials credsFor(RegistryEndpoint e, Credentials creds) {
        return e.sendsCredentials() ? creds : Credentials.ANONYMOUS;
    }

    /** A small blob (a signature payload) read into memory, at most {@code max} bytes, digest verified; not stored. */
    public byte[] fetchSmallBlob(ImageReference ref, Digest digest, int max, Credentials creds) {
        List<ImageException> failures = new ArrayList<>();
        for (RegistryEndpoint e : endpoints(ref.registry(), RegistryEndpoint.Capability.PULL)) {
            try {
                return new ManifestPuller(transport(e)).pullSmallBlob(e, ref.repository(), digest, max, credsFor(e, creds));
            } catch (ImageException ex) {
                failures.add(ex);
            }
        }
        throw combined(failures);
    }

    private static ImageException combined(List<ImageException> failures) {
        ImageException last = failures.getLast();
        if (failures.size() == 1) {
            return last;
        }
        StringBuilder msg = new StringBuilder(last.getMessage());
        for (int i = 0; i < failures.size() - 1; i++) {
            msg.append("; earlier: ").append(failures.get(i).getMessage());
        }
        // Report the upstream's reason (an unauthorized upstream says more than a mirror's 404), unless a host
        // refused the credentials: that says more than a fallback host that is down.
        ImageException.Reason reason = failures.stream().anyMatch(f -> f.reason() == ImageException.Reason.UNAUTHORIZED)
                ? ImageException.Reason.UNAUTHORIZED : last.reason();
        return new ImageException(reason, msg.toString(), last);
    }

    private static void join(CompletableFuture<Void> f) {
        try {
            f.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof ImageException ie) {
                throw new ImageException(ie.reason(), ie.getMessage(), ie);
            }
            throw e;
        }
    }

    private RegistryTransport transport(RegistryEndpoint e) {
        Duration connect = e.dialTimeout() != null ? e.dialTimeout() : config.requestTimeout();
        String key = e.base() + "|" + tlsKey(e.tls()) + "|" + connect.toMillis() + "|" + e.proxy();
        return transports.computeIfAbsent(key, k -> {
            ProxyEnvironment proxies = e.proxy() != null ? ProxyEnvironment.fixed(e.proxy()) : this.proxies;
            SSLContext ssl = RegistryTls.contextFor(e.tls(), e.host());
            if (e.tls().skipVerify()) {
                LOG.warning("registry host " + e.host() + ": skip_verify is set, its certificate is not checked");
            }
            HttpClient.Builder b = HttpClient.newBuilder()
                    .version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(connect)
                    .followRedirects(HttpClient.Redirect.NEVER)
                    .executor(Executors.newVirtualThreadPerTaskExecutor());
            if (ssl != null) {
                b.sslContext(ssl);
            }
            if (proxies.active()) {
                b.proxy(proxies);
            }
            return new RegistryTransport(b.build(), config.requestTimeout(), config.maxRetries(), backoff, proxies);
        });
    }

    /** The TLS settings and the files' change times: an edited CA or client certificate gets a new client. */
    private static String tlsKey(RegistryEndpoint.Tls tls) {
        StringBuilder b = new StringBuilder(tls.toString());
        List<Path> files = new ArrayList<>(tls.cas());
        tls.clients().forEach(c -> {
            files.add(c.cert());
            if (c.key() != null) {
                files.add(c.key());
            }
        });
        for (Path p : files) {
            try {
                b.append('|').append(Files.getLastModifiedTime(p).toMillis()).append('/').append(Files.size(p));
            } catch (IOException ex) {
                b.append("|missing");
            }
        }
        return b.toString();
    }

    @Override
    public void close() {
        transports.values().forEach(RegistryTransport::close);
    }

    /** An SSL context trusting exactly the CA certificates of a PEM file. */
    public static SSLContext sslContextFor(Path pem) {
        try (InputStream in = Files.newInputStream(pem)) {
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            int i = 0;
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                ks.setCertificateEntry("ca" + i++, c);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException | GeneralSecurityException e) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "cannot load CA file " + pem + ": " + e.getMessage(), e);
        }
    }
}
