package io.coracle.runtime.daemon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An exclusive lock on a file, held for the daemon's lifetime. The kernel drops it when the
 * process dies, so a lock file left by a crashed daemon never blocks a new one.
 */
public final class DaemonLock implements AutoCloseable {
    private final Path path;
    private final FileChannel channel;
    private final FileLock lock;

    private DaemonLock(Path path, FileChannel channel, FileLock lock) {
        this.path = path;
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Takes the lock at {@code path} for a daemon using {@code what} (e.g. "root /var/lib/coracle"),
     * or fails naming the PID that holds it.
     */
    public static DaemonLock acquire(Path path, String what) throws DaemonStartException {
        FileChannel channel = null;
        try {
            channel = FileChannel.open(path, java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE), java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                    io.coracle.sys.PrivateFiles.FILE));
            io.coracle.sys.PrivateFiles.restrict(path);
            FileLock lock = channel.tryLock();
            if (lock == null) {
                String holder = Files.readString(path, StandardCharsets.US_ASCII).trim();
                channel.close();
                throw new DaemonStartException("another Coracle daemon" + (holder.isEmpty() ? "" : " (pid " + holder + ")")
                        + " is already using " + what + " (lock " + path + " is held); stop it first");
            }
            channel.truncate(0);
            channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
            return new DaemonLock(path, channel, lock);
        } catch (IOException e) {
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // the open failure is what matters
                }
            }
            throw new DaemonStartException("cannot lock " + path + " for " + what + ": " + e.getMessage());
        }
    }

    public Path path() {
        return path;
    }

    @Override
    public void close() throws IOException {
        // The file stays: deleting it would let two daemons lock two different inodes.
        lock.release();
        channel.close();
    }
}
