package io.coracle.sandbox;

import static io.coracle.sandbox.PodFixture.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.IDMapping;
import io.coracle.cri.v1.Int64Value;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.cri.v1.UserNamespace;
import io.coracle.testing.DaemonProcess;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Bad requests and failing steps: the right code, a message naming the problem, and nothing left behind. */
class SandboxBadInputTest {
    private PodFixture f;

    @AfterEach
    void tearDown() throws Exception {
        if (f != null) {
            f.close();
        }
    }

    private StatusRuntimeException refused(PodSandboxConfig.Builder b, Status.Code code, String inMessage) {
        StatusRuntimeException e = Refusals.refusal(
                () -> f.service.run(RunPodSandboxRequest.newBuilder().setConfig(b).build()));
        assertEquals(code, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains(inMessage), e.getStatus().getDescription());
        return e;
    }

    /** Nothing of any pod is left: no record, no pod dir, mount, cgroup, pause process, veth or iptables rule. */
    private void assertNothingLeft() throws Exception {
        assertEquals(0, f.service.store().all().size());
        List<String> left = new ArrayList<>();
        for (Path dir : List.of(f.config.stateDir(), f.config.rootDir())) {
            if (Files.isDirectory(dir)) {
                try (Stream<Path> s = Files.list(dir)) {
                    s.forEach(p -> left.add("file: " + p));
                }
            }
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            if (line.contains(f.tmp.toString())) {
                left.add("mount: " + line);
            }
        }
        for (Path d : PodFixture.cgroupDirs(f.cgroupRoot, "cpu", "memory", "pids", "freezer", "unified")) {
            if (Files.isDirectory(d)) {
                try (Stream<Path> s = Files.walk(d)) {
                    s.filter(p -> Files.isDirectory(p) && !p.equals(d)).forEach(p -> left.add("cgroup: " + p));
                }
            }
        }
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String stat = Files.readString(p.resolve("stat"));
                    boolean zombie = stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z"); // dead, init reaps late
                    if (!zombie && Files.readString(p.resolve("cgroup")).contains(f.cgroupRoot)) {
                        left.add("process: " + p);
                    }
                } catch (java.io.IOException gone) {
                    // exited meanwhile
                }
            }
        }
        if (Files.exists(Path.of("/sys/class/net", f.bridge))) {
            String links = sh("ip", "-o", "link", "show", "master", f.bridge).trim();
            if (!links.isEmpty()) {
                left.add("veth: " + links);
            }
        }
        for (String line : sh("iptables-save").split("\n")) {
            if (line.contains(f.bridge)) {
                left.add("iptables: " + line);
            }
        }
        assertEquals(List.of(), left);
    }

    /** After a refusal the same name can still be used: the reservation was released. */
    private void nameIsFree(PodSandboxConfig.Builder valid) throws Exception {
        String id = f.run(valid);
        f.service.remove(io.coracle.cri.v1.RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertNothingLeft();
    }

    @Test
    @Tag("cgroup")
    void aPauseCgroupThatCannotBeMadeUndoesThePodCgroup() throws Exception {
        f = new PodFixture();
        // The pod cgroup fits in the shim's 512-byte cgroup paths; its pause leaf (+ "/" + 64-character id) does not.
        PodSandboxConfig.Builder b = PodFixture.pod("longcg");
        b.getLinuxBuilder().setCgroupParent(f.cgroupRoot + "/" + "a".repeat(220) + "/" + "b".repeat(220));
        StatusRuntimeException e = Refusals.refusal(
                () -> f.service.run(RunPodSandboxRequest.newBuilder().setConfig(b).build()));
        assertTrue(e.getStatus().getDescription().contains("too long"), e.getStatus().toString());
        assertNothingLeft();
    }

    @Test
    void missingMetadataIsInvalid() throws Exception {
        f = new PodFixture();
        refused(PodSandboxConfig.newBuilder(), Status.Code.INVALID_ARGUMENT, "no metadata");
        for (String field : List.of("name", "namespace", "uid")) {
            PodSandboxConfig.Builder b = f.podWithParent("meta");
            PodSandboxMetadata.Builder m = b.getMetadataBuilder();
            switch (field) {
                case "name" -> m.clearName();
                case "namespace" -> m.clearNamespace();
                default -> m.clearUid();
            }
            refused(b, Status.Code.INVALID_ARGUMENT, "metadata." + field);
        }
        assertNothingLeft();
    }

    @Test
    void unknownOrUnsupportedNamespaceModesAreInvalid() throws Exception {
        f = new PodFixture();
        refused(PodFixture.namespaces(f.podWithParent("t"), NamespaceMode.TARGET, NamespaceMode.POD, NamespaceMode.POD),
                Status.Code.INVALID_ARGUMENT, "network namespace mode TARGET");
        refused(PodFixture.namespaces(f.podWithParent("t"), NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.CONTAINER),
                Status.Code.INVALID_ARGUMENT, "ipc namespace mode CONTAINER");
        PodSandboxConfig.Builder b = f.podWithParent("t");
        b.getLinuxBuilder().getSecurityContextBuilder().getNamespaceOptionsBuilder().setPidValue(42);
        refused(b, Status.Code.INVALID_ARGUMENT, "pid namespace mode 42");
        assertNothingLeft();
    }

    @Test
    void idsOutOfRangeAndUserNamespacesAreRefusedNamingTheField() throws Exception {
        f = new PodFixture();
        for (long bad : List.of(4294967296L, 2147483648L, -1L)) {
            PodSandboxConfig.Builder b = f.podWithParent("ids");
            b.getLinuxBuilder().getSecurityContextBuilder().setRunAsUser(Int64Value.newBuilder().setValue(bad));
            refused(b, Status.Code.INVALID_ARGUMENT, "config.linux.security_context.run_as_user: " + bad
                    + " is out of range 0..2147483647");
            b = f.podWithParent("ids");
            b.getLinuxBuilder().getSecurityContextBuilder().setRunAsUser(Int64Value.newBuilder().setValue(5))
                    .setRunAsGroup(Int64Value.newBuilder().setValue(bad));
            refused(b, Status.Code.INVALID_ARGUMENT, "config.linux.security_context.run_as_group: " + bad);
            b = f.podWithParent("ids");
            b.getLinuxBuilder().getSecurityContextBuilder().addSupplementalGroups(1).addSupplementalGroups(bad);
            refused(b, Status.Code.INVALID_ARGUMENT, "config.linux.security_context.supplemental_groups[1]: " + bad);
        }
        PodSandboxConfig.Builder b = f.podWithParent("ids");
        b.getLinuxBuilder().getSecurityContextBuilder().getNamespaceOptionsBuilder().setUsernsOptions(UserNamespace
                .newBuilder().setMode(NamespaceMode.POD).addUids(IDMapping.newBuilder().setHostId(-1).setLength(-1)));
        refused(b, Status.Code.INVALID_ARGUMENT, "userns_options: mode POD with 1 uid and 0 gid mappings: exactly one"
                + " uid and one gid mapping are supported");
        // The largest uint32 ids, as the kubelet's unsigned fields carry them: past 2^32-2.
        b = f.podWithParent("ids");
        b.getLinuxBuilder().getSecurityContextBuilder().getNamespaceOptionsBuilder().setUsernsOptions(UserNamespace
                .newBuilder().setMode(NamespaceMode.POD).addUids(IDMapping.newBuilder().setHostId(-1).setLength(-1))
                .addGids(IDMapping.newBuilder().setHostId(65536).setLength(65536)));
        refused(b, Status.Code.INVALID_ARGUMENT, "uids[0]: host_id 4294967295 + length 4294967295 passes the highest id");
        assertNothingLeft();
        // The largest ids and a NODE user namespace are fine.
        b = f.podWithParent("ids");
        b.getLinuxBuilder().getSecurityContextBuilder().setRunAsUser(Int64Value.newBuilder().setValue(2147483647))
                .setRunAsGroup(Int64Value.newBuilder().setValue(2147483647)).addSupplementalGroups(2147483647)
                .getNamespaceOptionsBuilder().setUsernsOptions(UserNamespace.newBuilder().setMode(NamespaceMode.NODE));
        nameIsFree(b);
    }

    @Test
    void invalidSysctlsAreRefusedAndAFailingOneIsUndone() throws Exception {
        f = new PodFixture();
        PodSandboxConfig.Builder b = f.podWithParent("sys");
        b.getLinuxBuilder().putSysctls("kernel.hostname", "x");
        refused(b, Status.Code.INVALID_ARGUMENT, "sysctl 'kernel.hostname' is not namespaced");
        b = f.podWithParent("sys");
        b.getLinuxBuilder().putSysctls("net..bad", "1");
        refused(b, Status.Code.INVALID_ARGUMENT, "net..bad");
        b = PodFixture.namespaces(f.podWithParent("sys"), NamespaceMode.NODE, NamespaceMode.POD, NamespaceMode.POD);
        b.getLinuxBuilder().putSysctls("net.core.somaxconn", "100");
        refused(b, Status.Code.INVALID_ARGUMENT, "host network");
        // Valid name, but the kernel refuses the value: found only after the pause process started.
        b = f.podWithParent("sys");
        b.getLinuxBuilder().putSysctls("net.ipv4.ip_forward", "not-a-number");
        refused(b, Status.Code.INVALID_ARGUMENT, "net/ipv4/ip_forward");
        assertNothingLeft();
        nameIsFree(f.podWithParent("sys"));
    }

    @Test
    void malformedDnsConfigIsInvalid() throws Exception {
        f = new PodFixture();
        refused(f.podWithParent("dns").setDnsConfig(PodFixture.dns(List.of("10.0.0.1"), List.of(), List.of("ndots 5"))),
                Status.Code.INVALID_ARGUMENT, "DNS option 'ndots 5'");
        refused(f.podWithParent("dns").setDnsConfig(PodFixture.dns(List.of("not an ip"), List.of(), List.of())),
                Status.Code.INVALID_ARGUMENT, "DNS server 'not an ip'");
        refused(f.podWithParent("dns").setHostname("bad host name"), Status.Code.INVALID_ARGUMENT, "hostname 'bad host name'");
        PodSandboxConfig.Builder b = f.podWithParent("dns");
        b.getLinuxBuilder().setCgroupParent("/a/../b");
        refused(b, Status.Code.INVALID_ARGUMENT, "'..'");
        assertNothingLeft();
    }

    @Test
    void aFailingCniPluginUndoesEverythingIncludingTheBridgeAttachment() throws Exception {
        Path bin = Files.createTempDirectory("coracle-test-cni-bin-");
        try {
            Path plugin = bin.resolve("coracle-test-fail");
            Files.writeString(plugin, """
                    #!/bin/sh
                    cat >/dev/null
                    [ "$CNI_COMMAND" = ADD ] || exit 0
                    echo '{"cniVersion":"1.0.0","code":11,"msg":"coracle test plugin refuses","details":"on purpose"}'
                    exit 1
                    """);
            Files.setPosixFilePermissions(plugin, PosixFilePermissions.fromString("rwxr-xr-x"));
            f = new PodFixture(List.of(bin));
            // bridge first (it attaches a veth and takes an IP), then the failing plugin.
            Path conf = f.config.cniConfDir().resolve(CniConfigLoader.DEFAULT_FILE);
            Files.writeString(conf, Files.readString(conf).replace("{\"type\": \"portmap\"", "{\"type\": \"coracle-test-fail\"}, {\"type\": \"portmap\""));
            StatusRuntimeException e = refused(f.podWithParent("cnifail"), Status.Code.UNKNOWN, "coracle test plugin refuses: on purpose (code 11)");
            assertTrue(e.getStatus().getDescription().contains("coracle-test-fail"), e.getStatus().getDescription());
            assertNothingLeft();
            // host-local gave the address back.
            try (Stream<Path> s = Files.list(Path.of("/var/lib/cni/networks", f.bridge))) {
                assertEquals(List.of(), s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("10.")).toList());
            }
            // A missing plugin: the network is not ready, and a pod cannot start.
            Files.writeString(conf, Files.readString(conf).replace("coracle-test-fail", "coracle-test-absent"));
            refused(f.podWithParent("cnifail"), Status.Code.FAILED_PRECONDITION, "CNI plugin 'coracle-test-absent' not found");
            assertNothingLeft();
        } finally {
            DaemonProcess.deleteTree(bin);
        }
    }

    @Test
    void aFailingCniDelKeepsTheNetnsAndTheNextStopRetries() throws Exception {
        Path bin = Files.createTempDirectory("coracle-test-cni-bin-");
        try {
            Path marker = bin.resolve("fail-del");
            Path plugin = bin.resolve("coracle-test-flaky");
            Files.writeString(plugin, """
                    #!/bin/sh
                    cat >/dev/null
                    if [ "$CNI_COMMAND" = DEL ] && [ -e %s ]; then
                      echo '{"cniVersion":"1.0.0","code":11,"msg":"coracle test plugin cannot delete yet"}'
                      exit 1
                    fi
                    exit 0
                    """.formatted(marker));
            Files.setPosixFilePermissions(plugin, PosixFilePermissions.fromString("rwxr-xr-x"));
            f = new PodFixture(List.of(bin));
            Path conf = f.config.cniConfDir().resolve(CniConfigLoader.DEFAULT_FILE);
            // The flaky plugin goes first: it prints no result on ADD, and the bridge's result is the final one.
            Files.writeString(conf, Files.readString(conf).replace("\"plugins\": [", "\"plugins\": [{\"type\": \"coracle-test-flaky\"},"));
            String id = f.run(f.podWithParent("flaky"));
            Sandbox s = f.get(id);
            Files.createFile(marker);
            StatusRuntimeException e = Refusals.refusal(
                    () -> f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build()));
            assertTrue(e.getStatus().getDescription().contains("cannot delete yet"), e.getStatus().getDescription());
            assertTrue(Files.exists(s.netnsPath()), "netns kept for the retry");
            assertTrue(f.get(id).networkAttached());
            assertTrue(!f.get(id).pause().alive(), "pause is stopped anyway");
            // The bridge's DEL ran (all plugins are tried): the veth is gone already.
            Files.delete(marker);
            f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
            assertTrue(!Files.exists(s.netnsPath()));
            f.service.remove(io.coracle.cri.v1.RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
            assertEquals(List.of(), f.traces(s));
        } finally {
            DaemonProcess.deleteTree(bin);
        }
    }

    @Test
    void stopOfAnUnknownPodSucceedsAndStatusStaysNotFound() throws Exception {
        f = new PodFixture();
        // The CRI (critest "StopPodSandbox should not return an error if not found") and containerd: success.
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId("0123456789ab").build());
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId("0123456789ab").build());
        StatusRuntimeException e = Refusals.refusal(
                () -> f.service.status(io.coracle.cri.v1.PodSandboxStatusRequest.newBuilder().setPodSandboxId("0123456789ab").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        e = Refusals.refusal(
                () -> f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId("").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        // A pod stopped and removed: stop again succeeds.
        String id = f.run(f.podWithParent("gone"));
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        f.service.remove(io.coracle.cri.v1.RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertNothingLeft();
    }

    @Test
    void namesThatCannotBeFileNamesAreInvalid() throws Exception {
        f = new PodFixture();
        String huge = "a".repeat(1024 * 1024);
        for (String field : List.of("name", "namespace", "uid")) {
            for (String bad : List.of(huge, "a/b", "..", "a\u0000b", "x".repeat(254))) {
                PodSandboxConfig.Builder b = f.podWithParent("names");
                PodSandboxMetadata.Builder m = b.getMetadataBuilder();
                switch (field) {
                    case "name" -> m.setName(bad);
                    case "namespace" -> m.setNamespace(bad);
                    default -> m.setUid(bad);
                }
                StatusRuntimeException e = refused(b, Status.Code.INVALID_ARGUMENT, "config.metadata." + field + ": ");
                assertTrue(e.getStatus().getDescription().length() < 400, "the message does not echo the whole value");
            }
        }
        PodSandboxConfig.Builder b = f.podWithParent("names");
        b.getMetadataBuilder().setAttempt(-1);
        refused(b, Status.Code.INVALID_ARGUMENT, "config.metadata.attempt: -1");
        // 253 bytes is fine (a Kubernetes pod name can be that long); the hostname is derived from it.
        b = f.podWithParent("names").clearHostname();
        b.getMetadataBuilder().setName("n".repeat(253));
        nameIsFree(b);
    }

    @Test
    void pathsThatMustBeAbsoluteAreRefusedWhenRelativeOrWithDotDot() throws Exception {
        f = new PodFixture();
        refused(f.podWithParent("paths").setLogDirectory("relative/logs"), Status.Code.INVALID_ARGUMENT,
                "config.log_directory: 'relative/logs' is not an absolute path");
        refused(f.podWithParent("paths").setLogDirectory("/var/log/pods/../../etc"), Status.Code.INVALID_ARGUMENT,
                "config.log_directory: '/var/log/pods/../../etc' contains '..'");
        PodSandboxConfig.Builder b = f.podWithParent("paths");
        b.getLinuxBuilder().setCgroupParent("kubepods/pod1");
        refused(b, Status.Code.INVALID_ARGUMENT, "config.linux.cgroup_parent: 'kubepods/pod1' is not an absolute path");
        b = f.podWithParent("paths");
        b.getLinuxBuilder().setCgroupParent(f.cgroupRoot + "/..");
        refused(b, Status.Code.INVALID_ARGUMENT, "config.linux.cgroup_parent: ");
        assertNothingLeft();
    }

    @Test
    void portMappingsLabelsAndResourcesAreCheckedFieldByField() throws Exception {
        f = new PodFixture();
        refused(f.podWithParent("ports").addPortMappings(io.coracle.cri.v1.PortMapping.newBuilder().setContainerPort(80)
                .setHostPort(65536)), Status.Code.INVALID_ARGUMENT, "config.port_mappings[0].host_port: 65536");
        refused(f.podWithParent("ports").addPortMappings(io.coracle.cri.v1.PortMapping.newBuilder().setContainerPort(0)),
                Status.Code.INVALID_ARGUMENT, "config.port_mappings[0].container_port: 0");
        refused(f.podWithParent("ports").addPortMappings(io.coracle.cri.v1.PortMapping.newBuilder().setContainerPort(80)
                .setProtocolValue(7)), Status.Code.INVALID_ARGUMENT, "config.port_mappings[0].protocol");
        refused(f.podWithParent("ports").addPortMappings(io.coracle.cri.v1.PortMapping.newBuilder().setContainerPort(80)
                .setHostPort(8080).setHostIp("localhost")), Status.Code.INVALID_ARGUMENT,
                "config.port_mappings[0].host_ip: 'localhost' is not an IP address");
        refused(f.podWithParent("labels").putLabels("", "x"), Status.Code.INVALID_ARGUMENT, "config.labels: a key is empty");
        refused(f.podWithParent("labels").putAnnotations("big", "v".repeat(600 * 1024)), Status.Code.INVALID_ARGUMENT,
                "config.annotations: ");
        for (var bad : List.of(
                io.coracle.cri.v1.LinuxContainerResources.newBuilder().setCpusetCpus("0-"),
                io.coracle.cri.v1.LinuxContainerResources.newBuilder().setCpusetCpus("4096"),
                io.coracle.cri.v1.LinuxContainerResources.newBuilder().setCpuPeriod(10),
                io.coracle.cri.v1.LinuxContainerResources.newBuilder().setMemoryLimitInBytes(-5),
                io.coracle.cri.v1.LinuxContainerResources.newBuilder().addHugepageLimits(
                        io.coracle.cri.v1.HugepageLimit.newBuilder().setPageSize("3MB").setLimit(1 << 21)))) {
            PodSandboxConfig.Builder b = f.podWithParent("res");
            b.getLinuxBuilder().setResources(bad);
            refused(b, Status.Code.INVALID_ARGUMENT, "config.linux.resources.");
            b = f.podWithParent("res");
            b.getLinuxBuilder().setOverhead(bad);
            refused(b, Status.Code.INVALID_ARGUMENT, "config.linux.overhead.");
        }
        assertNothingLeft();
    }
}
