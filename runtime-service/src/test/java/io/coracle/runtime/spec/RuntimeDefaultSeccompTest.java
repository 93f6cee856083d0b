package io.coracle.runtime.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.oci.Seccomp;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class RuntimeDefaultSeccompTest {
    private static final List<String> DEFAULT = SecurityStep.DEFAULT_CAPABILITIES;

    private static Set<String> allowed(Seccomp s) {
        return s.syscalls().stream().filter(r -> r.action().equals("SCMP_ACT_ALLOW") && r.args() == null)
                .flatMap(r -> r.names().stream()).collect(Collectors.toSet());
    }

    private static List<Seccomp.Syscall> rules(Seccomp s, String name) {
        return s.syscalls().stream().filter(r -> r.names().contains(name)).toList();
    }

    private static List<String> with(String... extra) {
        List<String> caps = new ArrayList<>(DEFAULT);
        caps.addAll(List.of(extra));
        return caps;
    }

    @Test
    void isAnAllowlistReturningEperm() {
        Seccomp s = RuntimeDefaultSeccomp.forContainer(DEFAULT, "amd64");
        assertEquals("SCMP_ACT_ERRNO", s.defaultAction());
        assertEquals(1, s.defaultErrnoRet());
        assertEquals(List.of("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"), s.architectures());
        Set<String> allowed = allowed(s);
        for (String ok : List.of("read", "write", "execve", "fork", "wait4", "capset", "setresuid", "setgroups",
                "prctl", "sendto", "recvfrom", "exit_group", "arch_prctl", "modify_ldt", "futex_wake", "fchmodat2",
                "ptrace", "process_vm_readv", "process_vm_writev")) {
            assertTrue(allowed.contains(ok), ok);
        }
        for (String no : List.of("mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
                "kcmp", "pidfd_getfd", "init_module", "finit_module", "reboot", "kexec_load", "io_uring_setup",
                "io_uring_enter", "io_uring_register", "perf_event_open", "userfaultfd", "open_by_handle_at",
                "clock_settime", "acct", "swapon", "pivot_root", "clone3", "clone", "personality", "socket")) {
            assertFalse(allowed.contains(no), no);
        }
        assertFalse(s.syscalls().stream().anyMatch(r -> r.names().contains("set_tls")), "arm only");
    }

    @Test
    void argumentConditionsCarryOver() {
        Seccomp s = RuntimeDefaultSeccomp.forContainer(DEFAULT, "amd64");
        List<Seccomp.Syscall> clone = rules(s, "clone");
        assertEquals(1, clone.size());
        assertEquals(List.of(new Seccomp.Arg(0, 0x7E020000L, null, "SCMP_CMP_MASKED_EQ")), clone.get(0).args());
        List<Seccomp.Syscall> clone3 = rules(s, "clone3");
        assertEquals(1, clone3.size());
        assertEquals("SCMP_ACT_ERRNO", clone3.get(0).action());
        assertEquals(38, clone3.get(0).errnoRet(), "ENOSYS, so libc falls back to clone");
        assertEquals(Set.of(0L, 8L, 0x20000L, 0x20008L, 0xffffffffL), rules(s, "personality").stream()
                .map(r -> r.args().get(0).value()).collect(Collectors.toSet()));
        assertEquals(List.of(new Seccomp.Arg(0, 40, null, "SCMP_CMP_NE")), rules(s, "socket").get(0).args());
    }

    @Test
    void capabilitiesOpenTheirSyscalls() {
        Seccomp admin = RuntimeDefaultSeccomp.forContainer(with("CAP_SYS_ADMIN"), "amd64");
        Set<String> allowed = allowed(admin);
        for (String ok : List.of("mount", "unshare", "setns", "clone", "clone3", "umount2", "bpf")) {
            assertTrue(allowed.contains(ok), ok);
        }
        assertTrue(rules(admin, "clone").stream().allMatch(r -> r.args() == null), "no namespace-flag filter");
        assertTrue(rules(admin, "clone3").stream().allMatch(r -> r.action().equals("SCMP_ACT_ALLOW")));
        assertFalse(allowed.contains("kcmp"));

        assertTrue(allowed(RuntimeDefaultSeccomp.forContainer(with("CAP_SYS_PTRACE"), "amd64"))
                .containsAll(List.of("ptrace", "process_vm_readv", "process_vm_writev", "kcmp")));
        assertTrue(allowed(RuntimeDefaultSeccomp.forContainer(with("CAP_SYS_MODULE"), "amd64"))
                .containsAll(List.of("init_module", "finit_module", "delete_module")));
        assertTrue(allowed(RuntimeDefaultSeccomp.forContainer(with("CAP_SYS_BOOT"), "amd64")).contains("reboot"));
        assertTrue(allowed(RuntimeDefaultSeccomp.forContainer(with("CAP_SYS_TIME"), "amd64")).contains("clock_settime"));
        assertFalse(allowed(RuntimeDefaultSeccomp.forContainer(List.of(), "amd64")).contains("chroot"),
                "drop ALL takes CAP_SYS_CHROOT's chroot too");
        assertTrue(allowed(RuntimeDefaultSeccomp.forContainer(DEFAULT, "amd64")).contains("chroot"));
    }

    @Test
    void archSelectsItsEntries() {
        Seccomp arm = RuntimeDefaultSeccomp.forContainer(DEFAULT, "arm64");
        assertEquals(List.of("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"), arm.architectures());
        assertTrue(allowed(arm).contains("set_tls"));
        assertFalse(allowed(arm).contains("arch_prctl"));
    }

    @Test
    void profileIsImmutableAndNamesItsSource() {
        RuntimeDefaultSeccomp.Profile p = RuntimeDefaultSeccomp.profile();
        assertTrue(p.source().contains("moby"), p.source());
        assertThrows(UnsupportedOperationException.class, () -> p.syscalls().clear());
        Seccomp s = RuntimeDefaultSeccomp.forContainer(DEFAULT, "amd64");
        assertThrows(UnsupportedOperationException.class, () -> s.syscalls().clear());
        assertThrows(UnsupportedOperationException.class, () -> s.syscalls().get(0).names().clear(),
                "a container's spec never shares a list it could change with the profile");
        assertThrows(UnsupportedOperationException.class, () -> p.syscalls().get(0).names().clear());
        assertNull(rules(s, "read").get(0).args());
    }
}
