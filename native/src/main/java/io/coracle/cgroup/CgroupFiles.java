package io.coracle.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reading cgroup files (the shim writes them) and removing cgroup directories. */
final class CgroupFiles {
    private CgroupFiles() {}

    static long readLong(Path file, long missing) throws IOException {
        try {
            String s = Files.readString(file).trim();
            return s.equals("max") ? Long.MAX_VALUE : Long.parseLong(s);
        } catch (NoSuchFileException e) {
            return missing;
        }
    }

    /** The value of "key N" in a flat keyed file (memory.stat, memory.events, cpu.stat), or missing. */
    static long readKey(Path file, String key, long missing) throws IOException {
        try {
            for (String line : Files.readAllLines(file)) {
                int sp = line.indexOf(' ');
                if (sp > 0 && line.substring(0, sp).equals(key)) {
                    return Long.parseLong(line.substring(sp + 1).trim());
                }
            }
            return missing;
        } catch (NoSuchFileException e) {
            return missing;
        }
    }

    /** A control file's text, trimmed (at most 64 KiB), or null when it does not exist. */
    static String readText(Path dir, String name) throws IOException {
        if (name.isEmpty() || name.startsWith(".") || name.contains("/")) {
            throw new IllegalArgumentException("not a cgroup control file name: " + name);
        }
        Path file = dir.resolve(name);
        if (!Files.isRegularFile(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        try (var in = Files.newInputStream(file)) {
            return new String(in.readNBytes(65536), java.nio.charset.StandardCharsets.UTF_8).strip();
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    static void removeDir(Path dir) throws IOException {
        // rmdir on a cgroup fails with EBUSY until its last process is gone: retry briefly.
        for (int i = 0; ; i++) {
            try {
                Files.deleteIfExists(dir);
                return;
            } catch (IOException e) {
                if (i >= 100) {
                    throw new IOException("rmdir " + dir + ": " + e.getMessage(), e);
                }
                try {
                    Thread.sleep(10);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted removing " + dir, ie);
                }
            }
        }
    }

    static Path under(Path root, String path) {
        String rel = path.replaceFirst("^/+", "");
        if (rel.contains("..")) {
            throw new IllegalArgumentException("cgroup path with '..': " + path);
        }
        return rel.isEmpty() ? root : root.resolve(rel);
    }
}
