package io.coracle.image.signature;

import com.fasterxml.jackson.databind.JsonNode;
import io.coracle.image.Digest;
import io.coracle.image.ImageException;
import io.coracle.image.ImageReference;
import io.coracle.image.content.ManifestDocument;
import io.coracle.image.registry.Credentials;
import io.coracle.image.registry.RegistryClient;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.security.Signature;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.logging.Logger;

/**
 * Checks an image against the signature policy before any of its layers is fetched: the cosign signature
 * manifest at tag {@code sha256-<hex>.sig} in the image's repository; each of its layers is a simple-signing
 * payload whose {@code dev.cosignproject.cosign/signature} annotation holds the base64 signature. One
 * payload must verify with a key of the policy, be a {@code cosign container image signature}, name the
 * image's manifest digest, and name the image's repository.
 */
public final class CosignVerifier {
    private static final Logger LOG = Logger.getLogger(CosignVerifier.class.getName());
    public static final String SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
    public static final String PAYLOAD_TYPE = "cosign container image signature";
    /** Simple-signing payloads are a few hundred bytes. */
    private static final int MAX_PAYLOAD_BYTES = 64 * 1024;
    /** Signatures looked at per image; more are ignored. */
    private static final int MAX_SIGNATURES = 32;

    private final RegistryClient registry;
    private final SignaturePolicy policy;

    public CosignVerifier(RegistryClient registry, SignaturePolicy policy) {
        this.registry = registry;
        this.policy = policy;
    }

    /** Returns when the policy lets {@code ref} at {@code digest} in; else SIGNATURE_REFUSED naming the image and the reason. */
    public void check(ImageReference ref, Digest digest, Credentials creds) {
        SignaturePolicy.Rule rule = policy.ruleFor(ref).orElse(null);
        if (rule == null) {
            return;
        }
        String image = ref + " (" + digest + ")";
        String tag = "sha256-" + digest.hex() + ".sig";
        RegistryClient.Manifest sig;
        try {
            sig = registry.pullManifest(ref, tag, creds);
        } catch (ImageException e) {
            if (e.reason() == ImageException.Reason.NOT_FOUND) {
                throw refused(image, rule, "it has no cosign signature (no tag " + tag + " in " + ref.name() + ")");
            }
            throw e;
        }
        JsonNode layers;
        try {
            layers = ManifestDocument.JSON.readTree(sig.bytes()).path("layers");
        } catch (IOException e) {
            throw refused(image, rule, "its signature manifest is not JSON");
        }
        List<String> reasons = new ArrayList<>();
        int seen = 0;
        for (JsonNode layer : layers) {
            if (++seen > MAX_SIGNATURES) {
                break;
            }
            String signature = layer.path("annotations").path(SIGNATURE_ANNOTATION).asText("");
            if (signature.isEmpty()) {
                continue;
            }
            Digest payloadDigest;
            try {
                payloadDigest = Digest.parse(layer.path("digest").asText(""));
            } catch (ImageException e) {
                reasons.add("a signature layer has a bad digest");
                continue;
            }
            byte[] payload;
            try {
                payload = registry.fetchSmallBlob(ref, payloadDigest, MAX_PAYLOAD_BYTES, creds);
            } catch (ImageException e) {
                if (e.reason() == ImageException.Reason.UNAVAILABLE) {
                    throw e;
                }
                reasons.add("payload " + payloadDigest + " unusable: " + e.reason());
                continue;
            }
            String why = verify(payload, signature, rule.keys(), ref, digest);
            if (why == null) {
                LOG.info("signature accepted image=" + image + " scope=" + rule.scope() + " payload=" + payloadDigest);
                return;
            }
            reasons.add(why);
        }
        throw refused(image, rule, reasons.isEmpty() ? "its signature manifest " + tag + " holds no cosign signature"
                : String.join("; ", reasons));
    }

    /** Null when valid, else why not. */
    static String verify(byte[] payload, String signatureB64, List<PublicKey> keys, ImageReference ref, Digest digest) {
        byte[] sig;
        try {
            sig = Base64.getDecoder().decode(signatureB64.trim());
        } catch (IllegalArgumentException e) {
            return "a signature is not base64";
        }
        boolean verified = false;
        for (PublicKey k : keys) {
            try {
                Signature s = Signature.getInstance(k.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA");
                s.initVerify(k);
                s.update(payload);
                if (s.verify(sig)) {
                    verified = true;
                    break;
                }
            } catch (GeneralSecurityException | RuntimeException e) {
                // a malformed signature does not verify
            }
        }
        if (!verified) {
            return "no signature verifies with the policy's keys";
        }
        JsonNode critical;
        try {
            critical = ManifestDocument.JSON.readTree(payload).path("critical");
        } catch (IOException e) {
            return "a signed payload is not JSON";
        }
        if (!PAYLOAD_TYPE.equals(critical.path("type").asText())) {
            return "a signed payload is not a cosign container image signature";
        }
        String signedDigest = critical.path("image").path("docker-manifest-digest").asText("");
        if (!signedDigest.equals(digest.toString())) {
            return "the signature is for digest " + signedDigest + ", not " + digest;
        }
        String signedRef = critical.path("identity").path("docker-reference").asText("");
        try {
            if (!ImageReference.parse(signedRef).name().equals(ref.name())) {
                return "the signature is for " + signedRef + ", not " + ref.name();
            }
        } catch (ImageException e) {
            return "the signed docker-reference is not an image name";
        }
        return null;
    }

    private static ImageException refused(String image, SignaturePolicy.Rule rule, String why) {
        return new ImageException(ImageException.Reason.SIGNATURE_REFUSED,
                "image " + image + " refused by the signature policy for " + rule.scope() + ": " + why);
    }
}
