package io.coracle.sys;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.logging.Logger;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.Pinned;

/**
 * SHA-256 by libcrypto (OpenSSL 3), as a {@link MessageDigest}. The daemon's JVM runs C1 only
 * ({@code -XX:TieredStopAtLevel=1}, for its memory), and C1 has no SHA intrinsic: the JDK's SHA-256
 * then costs ~7 ms of CPU per MB, libcrypto's (SHA-NI/AVX2) well under 1 ms, which is most of a
 * pull's CPU (every layer is hashed compressed and uncompressed). {@link #create()} falls back to
 * the JDK's implementation when libcrypto cannot be loaded.
 *
 * <p>The {@code SHA256_CTX} lives in a Java array (nothing native to free); small updates (tar
 * headers) are gathered in a Java buffer so each native call hashes at least a few KiB.
 */
public final class NativeSha256 extends MessageDigest implements Cloneable {
    private static final Logger LOG = Logger.getLogger(NativeSha256.class.getName());
    /** sizeof(SHA256_CTX) is 112 on every 64-bit ABI; room to spare. */
    private static final int CTX_BYTES = 256;
    /** Updates below this size are copied into {@link #pending} first. */
    private static final int DIRECT = 4096;

    /** libcrypto's low-level SHA-256 (deprecated in OpenSSL 3, still exported, and the fastest path). */
    public interface Crypto {
        int SHA256_Init(@Pinned @Out byte[] ctx);
        int SHA256_Update(@Pinned @In @Out byte[] ctx, @Pinned @In ByteBuffer data, long len);
        int SHA256_Final(@Pinned @Out byte[] md, @Pinned @In @Out byte[] ctx);
    }

    private static final Crypto CRYPTO = load();

    private byte[] ctx = new byte[CTX_BYTES];
    private byte[] pending = new byte[DIRECT];
    private int pendingLength;

    private NativeSha256() {
        super("SHA-256");
        init();
    }

    /** libcrypto's SHA-256 when available, else the JDK's. */
    public static MessageDigest create() {
        if (CRYPTO != null) {
            return new NativeSha256();
        }
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("no SHA-256", e);
        }
    }

    /** Whether {@link #create()} gives libcrypto's implementation. */
    public static boolean available() {
        return CRYPTO != null;
    }

    private static Crypto load() {
        try {
            Crypto c = LibraryLoader.create(Crypto.class).load("crypto");
            // A known answer before the first real use: SHA-256("abc").
            byte[] ctx = new byte[CTX_BYTES];
            byte[] md = new byte[32];
            byte[] abc = {'a', 'b', 'c'};
            if (c.SHA256_Init(ctx) != 1 || c.SHA256_Update(ctx, ByteBuffer.wrap(abc), 3) != 1 || c.SHA256_Final(md, ctx) != 1
                    || !java.util.HexFormat.of().formatHex(md).equals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")) {
                LOG.warning("libcrypto's SHA-256 gave a wrong answer; using the JDK's");
                return null;
            }
            return c;
        } catch (LinkageError | RuntimeException e) {
            LOG.info("libcrypto not loadable (" + e.getMessage() + "); SHA-256 by the JDK");
            return null;
        }
    }

    private void init() {
        pendingLength = 0;
        check(CRYPTO.SHA256_Init(ctx), "SHA256_Init");
    }

    @Override
    protected void engineUpdate(byte input) {
        if (pendingLength == pending.length) {
            flush();
        }
        pending[pendingLength++] = input;
    }

    @Override
    protected void engineUpdate(byte[] input, int offset, int len) {
        java.util.Objects.checkFromIndexSize(offset, len, input.length);
        if (len < DIRECT) {
            if (pendingLength + len > pending.length) {
                flush();
            }
            System.arraycopy(input, offset, pending, pendingLength, len);
            pendingLength += len;
            return;
        }
        flush();
        check(CRYPTO.SHA256_Update(ctx, ByteBuffer.wrap(input, offset, len), len), "SHA256_Update");
    }

    private void flush() {
        if (pendingLength > 0) {
            check(CRYPTO.SHA256_Update(ctx, ByteBuffer.wrap(pending, 0, pendingLength), pendingLength), "SHA256_Update");
            pendingLength = 0;
        }
    }

    @Override
    protected byte[] engineDigest() {
        flush();
        byte[] md = new byte[32];
        check(CRYPTO.SHA256_Final(md, ctx), "SHA256_Final");
        init();
        return md;
    }

    @Override
    protected void engineReset() {
        init();
    }

    @Override
    protected int engineGetDigestLength() {
        return 32;
    }

    @Override
    public Object clone() throws CloneNotSupportedException {
        NativeSha256 c = (NativeSha256) super.clone();
        c.ctx = ctx.clone();
        c.pending = pending.clone();
        return c;
    }

    private static void check(int result, String call) {
        if (result != 1) {
            throw new IllegalStateException(call + " failed");
        }
    }
}
