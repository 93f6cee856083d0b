package io.coracle.image.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.coracle.image.ImageException;
import io.coracle.image.content.ManifestDocument;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Answers a registry's {@code WWW-Authenticate} challenge: Basic with the CRI credentials, or the
 * Bearer token flow (anonymous, basic-authenticated, identity-token refresh, or a given registry token).
 */
final class RegistryAuthenticator {
    private static final Pattern PARAM = Pattern.compile("(\\w+)=\"([^\"]*)\"");

    private final HttpClient http;
    private final Duration timeout;
    private final ProxyEnvironment proxies;

    RegistryAuthenticator(HttpClient http, Duration timeout, ProxyEnvironment proxies) {
        this.http = http;
        this.timeout = timeout;
        this.proxies = proxies;
    }

    /**
     * Returns the Authorization header value to retry with, or throws UNAUTHORIZED. {@code challenged}
     * is the request the registry answered with the challenge: over HTTPS, a token realm on plain HTTP
     * is refused (INSECURE_REDIRECT), as it would carry the credentials and the token in clear.
     */
    String authorize(URI challenged, String challenge, String repository, Credentials creds, String action) {
        if (challenge == null) {
            throw new ImageException(ImageException.Reason.UNAUTHORIZED, action + ": registry answered 401 without a WWW-Authenticate challenge");
        }
        String scheme = challenge.split(" ", 2)[0].trim();
        if (scheme.equalsIgnoreCase("Basic")) {
            if (!creds.hasBasic()) {
                throw new ImageException(ImageException.Reason.UNAUTHORIZED, action + ": registry requires credentials and none were given");
            }
            return creds.basicHeader();
        }
        if (!scheme.equalsIgnoreCase("Bearer")) {
            throw new ImageException(ImageException.Reason.UNAUTHORIZED, action + ": unsupported auth scheme " + scheme);
        }
        if (creds.registryToken() != null) {
            return "Bearer " + creds.registryToken();
        }
        Map<String, String> params = new LinkedHashMap<>();
        Matcher m = PARAM.matcher(challenge);
        while (m.find()) {
            params.put(m.group(1).toLowerCase(), m.group(2));
        }
        String realm = params.get("realm");
        if (realm == null) {
            throw new ImageException(ImageException.Reason.UNAUTHORIZED, action + ": Bearer challenge without realm");
        }
        URI realmUri;
        try {
            realmUri = URI.create(realm);
        } catch (IllegalArgumentException e) {
            throw new ImageException(ImageException.Reason.UNAUTHORIZED, action + ": Bearer realm \"" + realm + "\" is no URI");
        }
        if (!"https".equalsIgnoreCase(realmUri.getScheme()) && !"http".equalsIgnoreCase(realmUri.getScheme())) {
            throw new ImageException(ImageException.Reason.UNAUTHORIZED, action + ": Bearer realm " + realm + " is not HTTP(S)");
        }
        if ("https".equalsIgnoreCase(challenged.getScheme()) && !"https".equalsIgnoreCase(realmUri.getScheme())) {
            throw new ImageException(ImageException.Reason.INSECURE_REDIRECT, action + ": " + challenged.getAuthority()
                    + " sends to token server " + realm + ", refused: not HTTPS");
        }
        String scope = params.getOrDefault("scope", "repository:" + repository + ":pull");
        String service = params.get("service");
        try {
            HttpRequest request;
            if (creds.identityToken() != null) {
                String form = "grant_type=refresh_token&client_id=coracle"
                        + "&refresh_token=" + enc(creds.identityToken())
                        + (service != null ? "&service=" + enc(service) : "")
                        + "&scope=" + enc(scope);
                HttpRequest.Builder b = HttpRequest.newBuilder(realmUri).timeout(timeout)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .POST(HttpRequest.BodyPublishers.ofString(form));
                RegistryTransport.proxyAuthorization(b, realmUri, proxies);
                request = b.build();
            } else {
                StringBuilder q = new StringBuilder(realm).append(realm.contains("?") ? '&' : '?');
                if (service != null) {
                    q.append("service=").append(enc(service)).append('&');
                }
                q.append("scope=").append(enc(scope));
                HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(q.toString())).timeout(timeout).GET();
                if (creds.hasBasic()) {
                    b.header("Authorization", creds.basicHeader());
                }
                RegistryTransport.proxyAuthorization(b, realmUri, proxies);
                request = b.build();
            }
            HttpResponse<InputStream> resp = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
            byte[] body;
            try (InputStream in = resp.body()) {
                if (resp.statusCode() == 401 || resp.statusCode() == 403) {
                    throw new ImageException(ImageException.Reason.UNAUTHORIZED, action + ": token server " + realm + " refused the credentials (" + resp.statusCode() + ")");
                }
                if (resp.statusCode() != 200) {
                    throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": token server " + realm + " answered " + resp.statusCode());
                }
                body = RegistryLimits.readBounded(in, RegistryLimits.MAX_TOKEN_ANSWER_BYTES, action + ": token server " + realm);
            }
            JsonNode json = ManifestDocument.JSON.readTree(body);
            String token = json.path("token").asText(json.path("access_token").asText(""));
            if (token.isEmpty()) {
                throw new ImageException(ImageException.Reason.UNAUTHORIZED, action + ": token server " + realm + " returned no token");
            }
            return "Bearer " + token;
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": cannot reach token server " + realm + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": interrupted", e);
        }
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
