package io.coracle.image.registry;

import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Registry credentials from the CRI AuthConfig: user/password (or the base64 {@code auth} pair),
 * an identity (refresh) token, or a ready registry (bearer) token.
 */
public record Credentials(String username, String password, String identityToken, String registryToken) {
    public static final Credentials ANONYMOUS = new Credentials(null, null, null, null);

    /** Builds from AuthConfig fields; {@code auth} is base64("user:password") and fills in missing user/password. */
    public static Credentials of(String username, String password, String auth, String identityToken, String registryToken) {
        String u = blankToNull(username);
        String p = blankToNull(password);
        if ((u == null || p == null) && auth != null && !auth.isBlank()) {
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(auth.trim()), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                throw new io.coracle.image.ImageException(io.coracle.image.ImageException.Reason.INVALID_ARGUMENT,
                        "auth.auth is not valid base64 of user:password");
            }
            int colon = decoded.indexOf(':');
            if (colon < 0) {
                throw new io.coracle.image.ImageException(io.coracle.image.ImageException.Reason.INVALID_ARGUMENT,
                        "auth.auth does not decode to user:password");
            }
            u = decoded.substring(0, colon);
            p = decoded.substring(colon + 1);
        }
        return new Credentials(u, p, blankToNull(identityToken), blankToNull(registryToken));
    }

    /**
     * Whether credentials whose AuthConfig names {@code serverAddress} are for {@code registry}: an empty address
     * is (the kubelet matched them to the image), else its host (URL, host, or host/path) must be the registry.
     */
    public static boolean serveRegistry(String serverAddress, String registry) {
        if (serverAddress == null || serverAddress.isBlank()) {
            return true;
        }
        String s = NodeCredentials.scope(serverAddress);
        int slash = s.indexOf('/');
        return (slash < 0 ? s : s.substring(0, slash)).equalsIgnoreCase(registry);
    }

    public boolean hasBasic() {
        return username != null && password != null;
    }

    public boolean isAnonymous() {
        return !hasBasic() && identityToken == null && registryToken == null;
    }

    String basicHeader() {
        return "Basic " + Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    private static String blankToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    @Override
    public String toString() {
        return isAnonymous() ? "anonymous" : "credentials(user=" + username + ")";
    }
}
