package io.coracle.image.registry;

import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.util.Map;

/** Pulls one manifest or index by tag or digest, negotiating OCI and Docker schema 2 media types. */
final class ManifestPuller {
    /** A pulled manifest: raw bytes (what the digest covers), its media type and digest. */
    record Pulled(byte[] bytes, String mediaType, Digest digest) {
    }

    private final RegistryTransport transport;

    ManifestPuller(RegistryTransport transport) {
        this.transport = transport;
    }

    Pulled pull(RegistryEndpoint endpoint, String repository, String reference, String accept, Credentials creds) {
        String action = "pull manifest " + endpoint.registry() + "/" + repository + ":" + reference + " from " + endpoint;
        HttpResponse<InputStream> r = transport.get(endpoint, repository, "/v2/" + repository + "/manifests/" + reference,
                Map.of("Accept", accept), creds, action, true);
        try (InputStream in = r.body()) {
            int code = r.statusCode();
            if (code == 404) {
                throw new ImageException(ImageException.Reason.NOT_FOUND, action + ": manifest unknown");
            }
            if (code != 200) {
                throw new ImageException(code >= 500 ? ImageException.Reason.UNAVAILABLE : ImageException.Reason.INVALID_ARGUMENT,
                        action + ": registry answered " + code);
            }
            byte[] body = RegistryLimits.readBounded(in, RegistryLimits.MAX_MANIFEST_BYTES, action);
            Digest actual = Digest.of(body);
            if (Digest.isDigest(reference) && !actual.toString().equals(reference)) {
                throw new ImageException(ImageException.Reason.DIGEST_MISMATCH, action + ": content has digest " + actual);
            }
            String type = r.headers().firstValue("Content-Type").map(t -> t.split(";")[0].trim()).orElse(null);
            return new Pulled(body, type, actual);
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": " + e, e);
        }
    }

    /** A small blob into memory: at most {@code max} bytes, digest checked (signature payloads). */
    byte[] pullSmallBlob(RegistryEndpoint endpoint, String repository, Digest digest, int max, Credentials creds) {
        String action = "pull blob " + endpoint.registry() + "/" + repository + "@" + digest + " from " + endpoint;
        HttpResponse<InputStream> r = transport.get(endpoint, repository, "/v2/" + repository + "/blobs/" + digest,
                Map.of(), creds, action, true);
        try (InputStream in = r.body()) {
            int code = r.statusCode();
            if (code == 404) {
                throw new ImageException(ImageException.Reason.NOT_FOUND, action + ": blob unknown");
            }
            if (code != 200) {
                throw new ImageException(code >= 500 ? ImageException.Reason.UNAVAILABLE : ImageException.Reason.INVALID_ARGUMENT,
                        action + ": registry answered " + code);
            }
            byte[] body = RegistryLimits.readBounded(in, max, action);
            if (!Digest.of(body).equals(digest)) {
                throw new ImageException(ImageException.Reason.DIGEST_MISMATCH, action + ": content has digest " + Digest.of(body));
            }
            return body;
        } catch (IOException e) {
            throw new ImageException(ImageException.Reason.UNAVAILABLE, action + ": " + e, e);
        }
    }
}
