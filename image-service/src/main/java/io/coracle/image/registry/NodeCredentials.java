package io.coracle.image.registry;

import com.fasterxml.jackson.databind.JsonNode;
import io.coracle.image.ImageReference;
import io.coracle.image.content.ManifestDocument;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Logger;

/**
 * Node-wide registry credentials from a Docker {@code config.json} or a containers {@code auth.json}
 * ({@code {"auths": {"registry[/repository]": {"auth": base64(user:password)}}}}, also {@code username}/
 * {@code password}, {@code identitytoken}, {@code registrytoken}), used for pulls whose request carries none.
 * The longest key that is the image's registry or a repository prefix of it wins; Docker Hub's URL keys
 * ({@code https://index.docker.io/v1/}) mean {@code docker.io}. The file is re-read when it changes; its
 * content is never logged.
 */
public final class NodeCredentials {
    private static final Logger LOG = Logger.getLogger(NodeCredentials.class.getName());
    private static final int MAX_FILE_BYTES = 4 << 20;

    private final Path file;
    private volatile Snapshot snapshot;

    private record Snapshot(long mtime, long size, Object fileKey, Map<String, Credentials> byScope) {
    }

    public NodeCredentials(Path file) {
        this.file = file;
    }

    /** Credentials for {@code ref} from the file, or anonymous. */
    public Credentials lookup(ImageReference ref) {
        if (file == null) {
            return Credentials.ANONYMOUS;
        }
        Map<String, Credentials> scopes = load();
        String name = ref.registry() + "/" + ref.repository();
        Credentials best = Credentials.ANONYMOUS;
        int bestLength = -1;
        for (Map.Entry<String, Credentials> e : scopes.entrySet()) {
            String k = e.getKey();
            if ((name.equals(k) || name.startsWith(k + "/")) && k.length() > bestLength) {
                best = e.getValue();
                bestLength = k.length();
            }
        }
        return best;
    }

    private Map<String, Credentials> load() {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            Snapshot s = snapshot;
            if (s != null && s.mtime == a.lastModifiedTime().toMillis() && s.size == a.size()
                    && java.util.Objects.equals(s.fileKey, a.fileKey())) {
                return s.byScope;
            }
            byte[] bytes;
            try (InputStream in = Files.newInputStream(file)) {
                bytes = in.readNBytes(MAX_FILE_BYTES + 1);
            }
            Map<String, Credentials> scopes = parse(bytes);
            snapshot = new Snapshot(a.lastModifiedTime().toMillis(), a.size(), a.fileKey(), scopes);
            LOG.info("node registry credentials loaded from " + file + " for " + scopes.keySet());
            return scopes;
        } catch (NoSuchFileException e) {
            return Map.of();
        } catch (IOException | RuntimeException e) {
            // Not the exception's message: a parser may quote the file's content.
            LOG.warning("node registry credentials file " + file + " is unreadable or malformed ("
                    + e.getClass().getSimpleName() + "); pulls without credentials go anonymous");
            return Map.of();
        }
    }

    private Map<String, Credentials> parse(byte[] bytes) throws IOException {
        if (bytes.length > MAX_FILE_BYTES) {
            throw new IOException("larger than " + MAX_FILE_BYTES + " bytes");
        }
        JsonNode root = ManifestDocument.JSON.readTree(bytes);
        if (root.has("credsStore") || root.has("credHelpers")) {
            LOG.warning("node registry credentials file " + file + ": credsStore/credHelpers are not supported, only \"auths\"");
        }
        Map<String, Credentials> out = new LinkedHashMap<>();
        JsonNode auths = root.path("auths");
        if (!auths.isObject()) {
            return Map.of();
        }
        for (Map.Entry<String, JsonNode> e : auths.properties()) {
            JsonNode v = e.getValue();
            Credentials c = Credentials.of(text(v, "username"), text(v, "password"), text(v, "auth"),
                    text(v, "identitytoken"), text(v, "registrytoken"));
            if (!c.isAnonymous()) {
                out.put(scope(e.getKey()), c);
            }
        }
        return Map.copyOf(out);
    }

    private static String text(JsonNode v, String key) {
        JsonNode n = v.get(key);
        return n == null || !n.isTextual() ? null : n.asText();
    }

    /** {@code https://index.docker.io/v1/} → {@code docker.io}; {@code host/path} stays a repository scope. */
    static String scope(String key) {
        String k = key.trim();
        int scheme = k.indexOf("://");
        if (scheme >= 0) {
            k = k.substring(scheme + 3);
            k = k.replaceFirst("/v[12]/?$", "");
        }
        while (k.endsWith("/")) {
            k = k.substring(0, k.length() - 1);
        }
        int slash = k.indexOf('/');
        String host = (slash < 0 ? k : k.substring(0, slash)).toLowerCase(Locale.ROOT);
        String path = slash < 0 ? "" : k.substring(slash);
        if (host.equals("index.docker.io") || host.equals("registry-1.docker.io")) {
            host = ImageReference.DOCKER_HUB;
        }
        return host + path;
    }
}
