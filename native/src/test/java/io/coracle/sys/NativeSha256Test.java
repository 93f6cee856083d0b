package io.coracle.sys;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.security.MessageDigest;
import java.util.Random;
import org.junit.jupiter.api.Test;

class NativeSha256Test {
    @Test
    void libcryptoIsUsedHere() {
        // Debian's libssl3 is on every machine that builds Coracle; without it the fallback would hide a slow pull.
        assertTrue(NativeSha256.available());
        assertTrue(NativeSha256.create() instanceof NativeSha256);
    }

    @Test
    void sameDigestsAsTheJdkForEveryMixOfUpdates() throws Exception {
        Random rnd = new Random(7);
        byte[] data = new byte[3 << 20];
        rnd.nextBytes(data);
        for (int round = 0; round < 200; round++) {
            MessageDigest mine = NativeSha256.create();
            MessageDigest jdk = MessageDigest.getInstance("SHA-256");
            int updates = rnd.nextInt(20);
            for (int u = 0; u < updates; u++) {
                int kind = rnd.nextInt(4);
                if (kind == 0) {
                    byte b = (byte) rnd.nextInt();
                    mine.update(b);
                    jdk.update(b);
                    continue;
                }
                // small (buffered), around the buffer's size, and large (straight to libcrypto), at odd offsets
                int len = kind == 1 ? rnd.nextInt(600) : kind == 2 ? 4000 + rnd.nextInt(200) : rnd.nextInt(1 << 20);
                int off = rnd.nextInt(data.length - len);
                mine.update(data, off, len);
                jdk.update(data, off, len);
            }
            assertArrayEquals(jdk.digest(), mine.digest(), "round " + round);
        }
    }

    @Test
    void digestResetsAndCloneForks() throws Exception {
        MessageDigest mine = NativeSha256.create();
        byte[] a = "first".getBytes();
        mine.update(a);
        MessageDigest fork = (MessageDigest) mine.clone();
        byte[] once = mine.digest();
        assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(a), once);
        // after digest() it starts over
        mine.update(a);
        assertArrayEquals(once, mine.digest());
        fork.update(a);
        assertArrayEquals(MessageDigest.getInstance("SHA-256").digest("firstfirst".getBytes()), fork.digest());
        mine.update(a);
        mine.reset();
        assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(new byte[0]), mine.digest());
    }
}
