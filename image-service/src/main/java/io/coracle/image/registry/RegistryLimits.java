package io.coracle.image.registry;

import io.coracle.image.ImageException;
import java.io.IOException;
import java.io.InputStream;

/**
 * How much Coracle takes from a registry: every document it parses is read through a bound, and every
 * blob size a manifest declares is range-checked before anything is downloaded.
 */
public final class RegistryLimits {
    /** Manifests and indexes: 4 MiB, the size the OCI distribution spec asks registries to accept and containerd's bound. */
    public static final int MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
    /** Image configs: 8 MiB (real ones are a few KiB to a few hundred KiB, long histories included). */
    public static final long MAX_CONFIG_BYTES = 8L * 1024 * 1024;
    /** A token server's JSON answer: 1 MiB (a JWT with its fields is a few KiB). */
    static final int MAX_TOKEN_ANSWER_BYTES = 1024 * 1024;
    /** Any blob: 1 TiB; a larger declared size is a lie or an attack, never a layer. */
    public static final long MAX_BLOB_BYTES = 1L << 40;

    private RegistryLimits() {
    }

    /** Refuses a declared blob size below 0 or above {@code max}, before any download. */
    public static void checkSize(long size, long max, String what) {
        if (size < 0) {
            throw new ImageException(ImageException.Reason.INVALID_ARGUMENT, what + " declares a negative size " + size);
        }
        if (size > max) {
            throw new ImageException(ImageException.Reason.TOO_LARGE, what + " declares " + size
                    + " bytes, more than the " + max + " Coracle accepts");
        }
    }

    /**
     * Reads at most {@code max} bytes of {@code in}; one byte more fails with TOO_LARGE without reading
     * the rest, whatever Content-Length said.
     */
    static byte[] readBounded(InputStream in, int max, String what) throws IOException {
        byte[] body = in.readNBytes(max + 1);
        if (body.length > max) {
            throw new ImageException(ImageException.Reason.TOO_LARGE, what + ": answer larger than " + max + " bytes");
        }
        return body;
    }
}
