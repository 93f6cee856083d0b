package io.coracle.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class PidFdsTest {
    @Test
    void aRunningProcessIsCheckedTheSlowWayOnceThenByItsPidfdUntilItExits() throws Exception {
        Process p = new ProcessBuilder("sleep", "60").start();
        try {
            int pid = (int) p.pid();
            AtomicInteger slow = new AtomicInteger();
            for (int i = 0; i < 5; i++) {
                assertTrue(PidFds.running(pid, 1, () -> slow.incrementAndGet() > 0));
            }
            assertEquals(2, slow.get(), "checked before and after opening the pidfd, then never again");
            p.destroyForcibly();
            assertTrue(p.waitFor(5, TimeUnit.SECONDS));
            assertFalse(PidFds.running(pid, 1, () -> true), "the pidfd says it exited, whatever /proc would say of a new PID");
            assertFalse(PidFds.running(pid, 1, () -> true), "and it stays dead");
        } finally {
            p.destroyForcibly().waitFor();
        }
    }

    @Test
    void aProcessTheSlowCheckDisownsIsNotRunningAndNoPidfdIsKept() throws Exception {
        Process p = new ProcessBuilder("sleep", "60").start();
        try {
            int pid = (int) p.pid();
            assertFalse(PidFds.running(pid, 2, () -> false), "e.g. another start time: a reused PID");
            // The same PID under another identity is still judged on its own.
            assertTrue(PidFds.running(pid, 3, () -> true));
        } finally {
            p.destroyForcibly().waitFor();
        }
    }

    @Test
    void aProcessThatExitsBetweenTheCheckAndThePidfdIsNotRunning() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        assertFalse(PidFds.running((int) p.pid(), 4, () -> false));
    }
}
