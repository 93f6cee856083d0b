package io.coracle.shim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

/** How ExecSync's bound on stdout and stderr together is shared between the two streams. */
class ExecOutputSharesTest {
    @Test
    void bothStreamsWhole() {
        assertArrayEquals(new int[] {3, 4}, ExecRunner.fairShares(3, 4, 10));
        assertArrayEquals(new int[] {6, 4}, ExecRunner.fairShares(6, 4, 10));
        assertArrayEquals(new int[] {0, 0}, ExecRunner.fairShares(0, 0, 0));
    }

    @Test
    void aSmallStreamStaysWholeAndTheFloodGetsTheRest() {
        assertArrayEquals(new int[] {8, 2}, ExecRunner.fairShares(100, 2, 10));
        assertArrayEquals(new int[] {1, 9}, ExecRunner.fairShares(1, 100, 10));
        assertArrayEquals(new int[] {5, 5}, ExecRunner.fairShares(5, 100, 10));
    }

    @Test
    void twoFloodsShareHalfAndHalf() {
        assertArrayEquals(new int[] {5, 5}, ExecRunner.fairShares(100, 100, 10));
        assertArrayEquals(new int[] {5, 6}, ExecRunner.fairShares(100, 100, 11));
        assertArrayEquals(new int[] {Integer.MAX_VALUE / 2, Integer.MAX_VALUE - Integer.MAX_VALUE / 2},
                ExecRunner.fairShares(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE));
    }
}
