package io.coracle.image;

import io.coracle.sys.NativeSha256;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** A content digest {@code sha256:<64 hex>}; the only algorithm Coracle stores. */
public record Digest(String hex) {
    private static final Pattern HEX = Pattern.compile("[a-f0-9]{64}");

    public Digest {
        if (hex == null || !HEX.matcher(hex).matches()) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "invalid sha256 digest hex \"" + hex + "\"");
        }
    }

    /** Parses {@code sha256:<hex>}; other algorithms are rejected as unsupported. */
    public static Digest parse(String s) {
        if (s == null) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "missing digest");
        }
        int colon = s.indexOf(':');
        if (colon < 0) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, "invalid digest \"" + s + "\"");
        }
        String algo = s.substring(0, colon);
        if (!algo.equals("sha256")) {
            throw new ImageException(ImageException.Reason.UNSUPPORTED, "unsupported digest algorithm in \"" + s + "\"");
        }
        return new Digest(s.substring(colon + 1));
    }

    public static boolean isDigest(String s) {
        return s != null && s.startsWith("sha256:") && HEX.matcher(s.substring(7)).matches();
    }

    public static Digest of(byte[] bytes) {
        return new Digest(HexFormat.of().formatHex(sha256().digest(bytes)));
    }

    public static Digest of(String text) {
        return of(text.getBytes(StandardCharsets.UTF_8));
    }

    public static Digest of(MessageDigest finished) {
        return new Digest(HexFormat.of().formatHex(finished.digest()));
    }

    /** A SHA-256 digester: libcrypto's when it loads (the daemon's C1-only JIT hashes ~10x slower), else the JDK's. */
    public static MessageDigest sha256() {
        return NativeSha256.create();
    }

    @Override
    public String toString() {
        return "sha256:" + hex;
    }
}
