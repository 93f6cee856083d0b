package io.coracle.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading coracle-shim probe's answer, and whether an OCI runtime takes the rro mount option. */
class HostSecurityTest {
    @TempDir
    Path dir;

    @Test
    void theProbesAnswerIsReadAndAnUnexpectedOneRefused() throws Exception {
        HostSecurity s = HostSecurity.parse("{\"recursiveReadOnly\":true,\"lsms\":\"lockdown,capability,apparmor\","
                + "\"lsmsFrom\":\"securityfs\",\"apparmor\":true,\"apparmorParser\":false,\"selinux\":\"permissive\"}");
        assertEquals(new HostSecurity(true, List.of("lockdown", "capability", "apparmor"), "securityfs", true, false,
                "permissive"), s);
        assertFalse(s.selinuxEnforcing());
        assertTrue(s.describe().contains("apparmor_parser missing"), s.describe());
        assertEquals(List.of(), HostSecurity.parse("{\"recursiveReadOnly\":false,\"lsms\":\"\",\"apparmor\":false}").lsms());
        assertThrows(IOException.class, () -> HostSecurity.parse("{\"lsms\":\"x\"}"));
        assertThrows(IOException.class, () -> HostSecurity.parse("[]"));
    }

    private Path runtime(String name, String script) throws Exception {
        Path p = dir.resolve(name);
        Files.writeString(p, "#!/bin/sh\n" + script + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
        return p;
    }

    @Test
    void aRuntimeTakesRroOnlyWhenItsFeaturesListIt() throws Exception {
        assertTrue(HostSecurity.runtimeSupportsRecursiveReadOnly(runtime("new",
                "[ \"$1\" = features ] && echo '{\"mountOptions\":[\"ro\",\"rro\",\"rbind\"]}'")));
        assertFalse(HostSecurity.runtimeSupportsRecursiveReadOnly(runtime("old",
                "[ \"$1\" = features ] && echo '{\"mountOptions\":[\"ro\",\"rbind\"]}'")));
        assertFalse(HostSecurity.runtimeSupportsRecursiveReadOnly(runtime("none", "echo 'unknown command features' >&2; exit 1")));
        assertFalse(HostSecurity.runtimeSupportsRecursiveReadOnly(runtime("garbage", "echo 'not json'")));
        assertFalse(HostSecurity.runtimeSupportsRecursiveReadOnly(dir.resolve("missing")));
    }
}
