package io.coracle.image.registry;

import io.coracle.image.ImageException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * Sends one registry request for an endpoint: adds cached authorization, answers 401 challenges,
 * follows redirects itself (dropping credentials when the host changes, as blob stores need; never
 * from HTTPS to plain HTTP),
 * and retries 5xx/429 and broken connections with exponential backoff.
 */
final class RegistryTransport {
    private static final Logger LOG = Logger.getLogger(RegistryTransport.class.getName());
    private static final int MAX_REDIRECTS = 5;

    /**
     * One HttpClient for all of this endpoint's requests, concurrent downloads included: a client keeps a
     * selector thread and, over TLS, up to three direct read buffers of jdk.httpclient.bufsize (256 KiB) for
     * its whole life. Its one selector thread reads every connection; at 256 KiB a read that is a few
     * hundred reads a second for a pull, and inflating, hashing and writing run on the pull's own threads.
     */
    private final HttpClient http;
    private final RegistryAuthenticator authenticator;
    private final Duration timeout;
    private final int maxRetries;
    private final Duration backoff;
    /** Authorization header per endpoint+repository+credentials. */
    private final Map<String, String> authCache = new ConcurrentHashMap<>();

    private final ProxyEnvironment proxies;

    RegistryTransport(HttpClient http, Duration timeout, int maxRetries, Duration backoff, ProxyEnvironment proxies) {
        this.http = http;
        this.timeout = timeout;
        this.maxRetries = maxRetries;
        this.backoff = backoff;
        this.proxies = proxies;
        this.authenticator = new RegistryAuthenticator(http, timeout, proxies);
    }

    /** Proxy credentials go on requests the proxy carries, and only those (Java sends them on the CONNECT only). */
    static void proxyAuthorization(HttpRequest.Builder b, URI uri, ProxyEnvironment proxies) {
        ProxyEnvironment.Route r = proxies.routeFor(uri);
        if (r != null && r.authorization() != null) {
            b.header("Proxy-Authorization", r.authorization());
        }
    }

    void close() {
        http.shutdownNow();
    }

    Duration timeout() {
        return timeout;
    }

    int maxRetries() {
        return maxRetries;
    }

    /** Sleeps before retry {@code attempt} (1-based): backoff * 2^(attempt-1). */
    void pause(int attempt) {
        try {
            Thread.sleep(backoff.multipliedBy(1L << Math.min(attempt - 1, 6)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ImageException(ImageException.Reason.UNAVAILABLE, "interrupted while waiting to retry", e);
        }
    }

    /**
     * GETs {@code path} on the endpoint. Returns the final response (2xx, 404, 416 are returned; the
     * caller closes the body). With {@code retry}, 5xx and I/O failures are retried here.
     */
    HttpResponse<InputStream> get(RegistryEndpoint endpoint, String repository, String path, Map<String, String> headers,
                                  Credentials creds, String action, boolean retry) {
        int attempt = 0;
        while (true) {
            try {
                HttpResponse<InputStream> r = getOnce(endpoint, repository, path, headers, creds, action);
                int code = r.statusCode();
                if ((code >= 500 || code == 429) && retry && attempt < maxRetries) {
                    r.body().close();
                    attempt++;
                    LOG.info(action + ": " + endpoint + " answered " + code + ", retry " + attempt + "/" + maxRetries);
                    pause(attempt);
                    continue;
                }
                return r;
            } catch (IOException e) {
                if (!retry || attempt >= maxRetries) {
                    throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": " + endpoint + " failed: " + e, e);
                }
                attempt++;
                LOG.info(action + ": " + endpoint + " failed (" + e + "), retry " + attempt + "/" + maxRetries);
                pause(attempt);
            }
        }
    }

    private HttpResponse<InputStream> getOnce(RegistryEndpoint endpoint, String repository, String path,
                                             Map<String, String> headers, Credentials creds, String action) throws IOException {
        String cacheKey = endpoint.base() + "|" + repository + "|" + Objects.hashCode(creds);
        URI uri = endpoint.route(path);
        boolean challenged = false;
        int redirects = 0;
        String authorization = authCache.get(cacheKey);
        while (true) {
            HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(timeout).GET();
            boolean sameHost = Objects.equals(uri.getAuthority(), endpoint.base().getAuthority());
            if (sameHost) { // hosts.toml [header]: for that host, not for a blob store it redirects to
                endpoint.headers().forEach((name, values) -> values.forEach(v -> b.header(name, v)));
            }
            headers.forEach(b::header);
            proxyAuthorization(b, uri, proxies);
            if (authorization != null && sameHost) {
                b.header("Authorization", authorization);
            }
            HttpResponse<InputStream> r;
            try {
                r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": interrupted", e);
            }
            int code = r.statusCode();
            if (code == 407) {
                r.body().close();
                throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": the proxy refused the request (407);"
                        + " check the credentials of HTTP_PROXY/HTTPS_PROXY");
            }
            if (code == 401 && sameHost && !challenged) {
                String challenge = r.headers().firstValue("WWW-Authenticate").orElse(null);
                r.body().close();
                authorization = authenticator.authorize(uri, challenge, repository, creds, action);
                authCache.put(cacheKey, authorization);
                challenged = true;
                continue;
            }
            if (code == 401 || code == 403) {
                r.body().close();
                authCache.remove(cacheKey);
                throw new ImageException(ImageException.Reason.UNAUTHORIZED,
                        action + ": " + endpoint + " refused access (" + code + ")" + (creds.isAnonymous() ? "; no credentials were given" : "; check the credentials"));
            }
            if (code >= 300 && code < 400 && code != 304) {
                String location = r.headers().firstValue("Location").orElse(null);
                r.body().close();
                if (location == null || ++redirects > MAX_REDIRECTS) {
                    throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": bad redirect from " + uri);
                }
                URI next = uri.resolve(location);
                // Blob stores live on other hosts (https to https); a local insecure registry may redirect
                // http to http; https to http would send the request, and what answers it, in clear.
                if ("https".equalsIgnoreCase(uri.getScheme()) && !"https".equalsIgnoreCase(next.getScheme())) {
                    throw new ImageException(ImageException.Reason.INSECURE_REDIRECT, action + ": " + uri
                            + " redirected to " + next.getScheme() + "://" + next.getAuthority() + ", refused: not HTTPS");
                }
                uri = next;
                continue;
            }
            return r;
        }
    }
}
