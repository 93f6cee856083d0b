package io.coracle.runtime.daemon;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.SaveError;

/**
 * The sd_notify(3) protocol of a {@code Type=notify} unit: datagrams of {@code KEY=value} lines to the
 * unix socket named by {@code $NOTIFY_SOCKET} (a path, or an abstract name written with a leading
 * {@code @}). The daemon sends READY=1 once the CRI socket serves, STATUS= lines, STOPPING=1 at
 * shutdown, and WATCHDOG=1 every half of {@code $WATCHDOG_USEC} when the unit sets WatchdogSec.
 * Without {@code $NOTIFY_SOCKET} every call does nothing. Java's own channels offer unix sockets as
 * streams only, so the datagram goes out through libc (jnr-ffi).
 */
public final class SystemdNotifier implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SystemdNotifier.class.getName());
    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int SUN_PATH_MAX = 108;

    /** The libc calls this needs. */
    public interface LibC {
        @SaveError
        int socket(int domain, int type, int protocol);

        @SaveError
        long sendto(int fd, byte[] buf, long len, int flags, byte[] addr, int addrLen);

        int close(int fd);
    }

    private final byte[] address; // a struct sockaddr_un, exactly as long as its name needs; null: not under systemd
    private final String socketName;
    private final Duration watchdogInterval; // null: no watchdog
    private ScheduledExecutorService watchdog;
    private LibC libc;

    private SystemdNotifier(String socketName, byte[] address, Duration watchdogInterval) {
        this.socketName = socketName;
        this.address = address;
        this.watchdogInterval = watchdogInterval;
    }

    /**
     * From the process environment: NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog is
     * ours only when WATCHDOG_PID is unset or names this process). A malformed value is logged and
     * leaves that part off.
     */
    public static SystemdNotifier fromEnvironment(Map<String, String> env, long pid) {
        String name = env.get("NOTIFY_SOCKET");
        byte[] address = null;
        if (name != null && !name.isEmpty()) {
            address = sockaddr(name);
            if (address == null) {
                LOG.warning("NOTIFY_SOCKET '" + name + "' is not a socket path or @abstract name of at most "
                        + (SUN_PATH_MAX - 1) + " bytes: systemd is not notified");
            }
        }
        Duration interval = null;
        String usec = env.get("WATCHDOG_USEC");
        String watchdogPid = env.get("WATCHDOG_PID");
        if (address != null && usec != null && (watchdogPid == null || watchdogPid.equals(Long.toString(pid)))) {
            try {
                long us = Long.parseLong(usec.trim());
                if (us <= 0) {
                    throw new NumberFormatException("not positive");
                }
                interval = Duration.ofNanos(us * 1000 / 2);
            } catch (NumberFormatException e) {
                LOG.warning("WATCHDOG_USEC '" + usec + "' is not a positive number of microseconds: no watchdog");
            }
        }
        return new SystemdNotifier(name, address, interval);
    }

    /** The sockaddr_un for a path, or for an abstract name ("@name": a leading NUL, no trailing one). */
    static byte[] sockaddr(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        boolean abstractName = bytes[0] == '@';
        if ((!abstractName && bytes[0] != '/') || bytes.length > SUN_PATH_MAX - 1 || bytes.length < 2) {
            return null;
        }
        byte[] addr = new byte[2 + bytes.length + (abstractName ? 0 : 1)];
        addr[0] = (byte) AF_UNIX; // sa_family_t, little-endian on the platforms Coracle runs on
        System.arraycopy(bytes, 0, addr, 2, bytes.length);
        if (abstractName) {
            addr[2] = 0;
        }
        return addr;
    }

    public boolean enabled() {
        return address != null;
    }

    /** READY=1 with a status line; starts the watchdog pings when the unit asks for them. */
    public synchronized void ready(String status) {
        send("READY=1\nSTATUS=" + oneLine(status) + "\nMAINPID=" + ProcessHandle.current().pid() + "\n");
        if (watchdogInterval != null && watchdog == null) {
            watchdog = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon()
                    .name("systemd-watchdog").unstarted(r));
            long ms = Math.max(1, watchdogInterval.toMillis());
            watchdog.scheduleAtFixedRate(() -> send("WATCHDOG=1\n"), 0, ms, TimeUnit.MILLISECONDS);
            LOG.info("systemd watchdog: WATCHDOG=1 every " + ms + " ms");
        }
    }

    public void status(String status) {
        send("STATUS=" + oneLine(status) + "\n");
    }

    /** STOPPING=1: the daemon has begun to shut down; the watchdog stops. */
    public synchronized void stopping(String status) {
        stopWatchdog();
        send("STOPPING=1\nSTATUS=" + oneLine(status) + "\n");
    }

    @Override
    public synchronized void close() {
        stopWatchdog();
    }

    private void stopWatchdog() {
        if (watchdog != null) {
            watchdog.shutdownNow();
            watchdog = null;
        }
    }

    private static String oneLine(String s) {
        return s.replace('\n', ' ');
    }

    /** One datagram; a failure is logged, never thrown (systemd's absence must not stop the daemon). */
    private void send(String message) {
        if (address == null) {
            return;
        }
        LibC c = libc();
        int fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            LOG.warning("cannot notify systemd: socket(AF_UNIX, SOCK_DGRAM): errno " + lastError(c));
            return;
        }
        try {
            byte[] data = message.getBytes(StandardCharsets.UTF_8);
            if (c.sendto(fd, data, data.length, MSG_NOSIGNAL, address, address.length) != data.length) {
                LOG.warning("cannot notify systemd on " + socketName + ": sendto: errno " + lastError(c));
            }
        } finally {
            c.close(fd);
        }
    }

    private synchronized LibC libc() {
        if (libc == null) {
            libc = LibraryLoader.create(LibC.class).load("c");
        }
        return libc;
    }

    private static int lastError(LibC c) {
        return jnr.ffi.Runtime.getRuntime(c).getLastError();
    }
}
