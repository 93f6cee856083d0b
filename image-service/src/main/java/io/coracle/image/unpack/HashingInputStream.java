package io.coracle.image.unpack;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;

/**
 * Hashes and counts every byte passing through, including skipped ones (DigestInputStream misses those),
 * and shows them to a {@link PaxXattrScanner} when one is given.
 */
final class HashingInputStream extends FilterInputStream {
    private final MessageDigest md;
    private final PaxXattrScanner scanner;
    private long count;

    HashingInputStream(InputStream in, MessageDigest md) {
        this(in, md, null);
    }

    HashingInputStream(InputStream in, MessageDigest md, PaxXattrScanner scanner) {
        super(in);
        this.md = md;
        this.scanner = scanner;
    }

    @Override
    public int read() throws IOException {
        int b = in.read();
        if (b >= 0) {
            md.update((byte) b);
            count++;
            if (scanner != null) {
                scanner.accept(new byte[] {(byte) b}, 0, 1);
            }
        }
        return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        int n = in.read(b, off, len);
        if (n > 0) {
            md.update(b, off, n);
            count += n;
            if (scanner != null) {
                scanner.accept(b, off, n);
            }
        }
        return n;
    }

    @Override
    public long skip(long n) throws IOException {
        byte[] buf = new byte[(int) Math.min(n, 65536)];
        long left = n;
        while (left > 0) {
            int r = read(buf, 0, (int) Math.min(left, buf.length));
            if (r < 0) {
                break;
            }
            left -= r;
        }
        return n - left;
    }

    /** Reads the rest of the stream so the digest covers all of it. */
    void drain() throws IOException {
        byte[] buf = new byte[65536];
        while (read(buf, 0, buf.length) >= 0) {
            // hashing happens in read
        }
    }

    long count() {
        return count;
    }

    @Override
    public boolean markSupported() {
        return false;
    }
}
