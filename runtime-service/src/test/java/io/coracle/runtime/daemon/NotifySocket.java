package io.coracle.runtime.daemon;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.SaveError;

/** What systemd binds for a Type=notify unit: a unix datagram socket (a path, or "@name" for an abstract one). */
final class NotifySocket implements AutoCloseable {
    /** The libc calls a receiver needs. */
    public interface LibC {
        @SaveError
        int socket(int domain, int type, int protocol);

        @SaveError
        int bind(int fd, byte[] addr, int addrLen);

        @SaveError
        int setsockopt(int fd, int level, int name, byte[] value, int len);

        @SaveError
        long recv(int fd, byte[] buf, long len, int flags);

        int close(int fd);
    }

    private static final LibC C = LibraryLoader.create(LibC.class).load("c");
    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVTIMEO = 20;
    private final int fd;
    final String name;

    NotifySocket(String name) throws IOException {
        this.name = name;
        fd = C.socket(1 /* AF_UNIX */, 2 /* SOCK_DGRAM */ | 0x80000 /* CLOEXEC */, 0);
        byte[] addr = SystemdNotifier.sockaddr(name);
        if (fd < 0 || addr == null || C.bind(fd, addr, addr.length) != 0) {
            throw new IOException("cannot bind a datagram socket on " + name + ": errno "
                    + jnr.ffi.Runtime.getRuntime(C).getLastError());
        }
    }

    /** The next datagram, or null when none arrives within the timeout. */
    String receive(Duration timeout) throws IOException {
        long us = Math.max(1000, timeout.toNanos() / 1000);
        byte[] tv = new byte[16]; // struct timeval, little-endian
        java.nio.ByteBuffer.wrap(tv).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(us / 1_000_000).putLong(us % 1_000_000);
        C.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, tv.length);
        byte[] buf = new byte[4096];
        long n = C.recv(fd, buf, buf.length, 0);
        if (n < 0) {
            int errno = jnr.ffi.Runtime.getRuntime(C).getLastError();
            if (errno == 11 /* EAGAIN */ || errno == 4 /* EINTR */) {
                return null;
            }
            throw new IOException("recv on " + name + ": errno " + errno);
        }
        return new String(buf, 0, (int) n, StandardCharsets.UTF_8);
    }

    /** Every datagram arriving within the window. */
    List<String> receiveFor(Duration window) throws IOException {
        List<String> out = new ArrayList<>();
        long deadline = System.nanoTime() + window.toNanos();
        for (long left; (left = deadline - System.nanoTime()) > 0; ) {
            String m = receive(Duration.ofNanos(left));
            if (m != null) {
                out.add(m);
            }
        }
        return out;
    }

    @Override
    public void close() {
        C.close(fd);
    }
}
