package io.coracle.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Directories 0700 and files 0600 under Coracle's root and state, also where an older install left them open. */
class PrivateFilesTest {
    @TempDir
    Path tmp;

    static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void directoriesAreCreatedPrivateWithTheirMissingParentsAndNarrowedWhenOpen() throws Exception {
        Path d = PrivateFiles.directory(tmp.resolve("a/b/c"));
        assertEquals("rwx------", mode(d));
        assertEquals("rwx------", mode(tmp.resolve("a")));
        Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxrwxrwx"));
        PrivateFiles.directory(d);
        assertEquals("rwx------", mode(d));
        assertEquals("rwx--x--x", mode(PrivateFiles.directory(d, PrivateFiles.TRAVERSABLE)));
    }

    @Test
    void aSymlinkOrFileIsNoDirectory() throws Exception {
        Path target = Files.createDirectory(tmp.resolve("elsewhere"));
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), target);
        assertThrows(IOException.class, () -> PrivateFiles.directory(link));
        assertEquals("rwxr-xr-x", mode(target), "the link's target is untouched");
        Path file = Files.writeString(tmp.resolve("file"), "x");
        assertThrows(IOException.class, () -> PrivateFiles.directory(file));
    }

    @Test
    void writesReplaceAtomicallyWithTheirModeAndNeverThroughAPlantedLink() throws Exception {
        Path f = tmp.resolve("config.json");
        PrivateFiles.write(f, "one".getBytes(), true);
        assertEquals("rw-------", mode(f));
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        Path victim = Files.writeString(tmp.resolve("victim"), "keep");
        Files.createSymbolicLink(tmp.resolve(".config.json.tmp"), victim);
        PrivateFiles.write(f, "two".getBytes(), false);
        assertEquals("two", Files.readString(f));
        assertEquals("rw-------", mode(f));
        assertEquals("keep", Files.readString(victim));
        PrivateFiles.write(tmp.resolve("hosts"), "h".getBytes(), PrivateFiles.READABLE, false);
        assertEquals("rw-r--r--", mode(tmp.resolve("hosts")));
    }

    @Test
    void commitPutsAStreamedFileInPlaceOfItsTargetWholeAndWithItsMode() throws Exception {
        Path ingest = Files.createDirectory(tmp.resolve("ingest"));
        Path blobs = Files.createDirectory(tmp.resolve("blobs"));
        Path temp = Files.writeString(ingest.resolve("x.tmp"), "new");
        Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rw-r-----"));
        Path target = Files.writeString(blobs.resolve("abc"), "old");
        PrivateFiles.commit(temp, target, true);
        assertEquals("new", Files.readString(target));
        assertFalse(Files.exists(temp, LinkOption.NOFOLLOW_LINKS));
        assertEquals("rw-r-----", mode(target));
        Path again = Files.writeString(ingest.resolve("y.tmp"), "newer");
        PrivateFiles.commit(again, target, false);
        assertEquals("newer", Files.readString(target));
    }

    @Test
    void restrictNarrowsFilesAndDirsAndLeavesLinksAndAbsentPathsAlone() throws Exception {
        Path f = Files.writeString(tmp.resolve("meta.json"), "{}");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-rw-rw-"));
        Path d = Files.createDirectory(tmp.resolve("bundle"));
        Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path outside = Files.writeString(tmp.resolve("outside"), "x");
        Files.setPosixFilePermissions(outside, PosixFilePermissions.fromString("rw-r--r--"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), outside);
        PrivateFiles.restrict(f);
        PrivateFiles.restrict(d);
        PrivateFiles.restrict(link);
        PrivateFiles.restrict(tmp.resolve("absent"));
        assertEquals("rw-------", mode(f));
        assertEquals("rwx------", mode(d));
        assertEquals("rw-r--r--", mode(outside));
    }
}
