package io.coracle.image.signature;

import io.coracle.image.ImageException;
import io.coracle.image.ImageReference;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which images must carry a cosign signature, and by whose keys: scopes are a registry ({@code
 * registry.example:5000}) or a repository prefix ({@code docker.io/library}, {@code ghcr.io/org/app}); the
 * longest scope that covers an image decides, and one of its keys must have signed it. Images outside every
 * scope are pulled as before. Keys are PEM public keys (ECDSA P-256, as {@code cosign generate-key-pair}
 * makes, or RSA), loaded once at start.
 */
public final class SignaturePolicy {
    public static final SignaturePolicy NONE = new SignaturePolicy(Map.of());
    private static final Pattern PEM = Pattern.compile("-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\\s]+?)-----END PUBLIC KEY-----");

    /** A scope and its keys. */
    public record Rule(String scope, List<PublicKey> keys) {
    }

    private final Map<String, Rule> rules;

    private SignaturePolicy(Map<String, Rule> rules) {
        this.rules = rules;
    }

    /** Loads every key file; a missing or unreadable key is an error (the daemon does not start). */
    public static SignaturePolicy load(Map<String, List<Path>> scopes) {
        Map<String, Rule> rules = new LinkedHashMap<>();
        for (Map.Entry<String, List<Path>> e : scopes.entrySet()) {
            String scope = normalize(e.getKey());
            if (e.getValue().isEmpty()) {
                throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "signature policy for " + scope + " names no public key");
            }
            List<PublicKey> keys = new ArrayList<>();
            for (Path p : e.getValue()) {
                keys.addAll(publicKeys(p));
            }
            rules.put(scope, new Rule(scope, List.copyOf(keys)));
        }
        return new SignaturePolicy(Map.copyOf(rules));
    }

    public boolean isEmpty() {
        return rules.isEmpty();
    }

    /** The rule covering {@code ref}, if any: the longest matching scope. */
    public Optional<Rule> ruleFor(ImageReference ref) {
        String name = ref.name();
        Rule best = null;
        for (Rule r : rules.values()) {
            if ((name.equals(r.scope) || name.startsWith(r.scope + "/")) && (best == null || r.scope.length() > best.scope.length())) {
                best = r;
            }
        }
        return Optional.ofNullable(best);
    }

    private static String normalize(String scope) {
        String s = scope.trim();
        while (s.endsWith("/")) {
            s = s.substring(0, s.length() - 1);
        }
        int slash = s.indexOf('/');
        String host = (slash < 0 ? s : s.substring(0, slash)).toLowerCase(Locale.ROOT);
        if (host.isEmpty()) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "signature policy scope '" + scope + "' names no registry");
        }
        if (host.equals("index.docker.io")) {
            host = ImageReference.DOCKER_HUB;
        }
        return host + (slash < 0 ? "" : s.substring(slash));
    }

    static List<PublicKey> publicKeys(Path pem) {
        try (InputStream in = Files.newInputStream(pem)) {
            byte[] bytes = in.readNBytes(1 << 20);
            Matcher m = PEM.matcher(new String(bytes, StandardCharsets.US_ASCII));
            List<PublicKey> out = new ArrayList<>();
            while (m.find()) {
                byte[] der = Base64.getMimeDecoder().decode(m.group(1));
                out.add(publicKey(der));
            }
            if (out.isEmpty()) {
                throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "signature policy key file " + pem + " holds no PUBLIC KEY");
            }
            return out;
        } catch (IOException | GeneralSecurityException | IllegalArgumentException e) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "signature policy key file " + pem + ": " + e.getMessage(), e);
        }
    }

    private static PublicKey publicKey(byte[] der) throws GeneralSecurityException {
        X509EncodedKeySpec spec = new X509EncodedKeySpec(der);
        try {
            return KeyFactory.getInstance("EC").generatePublic(spec);
        } catch (GeneralSecurityException e) {
            return KeyFactory.getInstance("RSA").generatePublic(spec);
        }
    }
}
