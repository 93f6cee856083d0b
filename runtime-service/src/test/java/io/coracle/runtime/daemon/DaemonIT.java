package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.CgroupDriver;
import io.coracle.cri.v1.RuntimeCondition;
import io.coracle.cri.v1.RuntimeConfigRequest;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.StatusResponse;
import io.coracle.cri.v1.VersionRequest;
import io.coracle.cri.v1.VersionResponse;
import io.coracle.testing.DaemonProcess;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Starts the real daemon on a temp socket and talks CRI to it over that socket. */
class DaemonIT {

    @Test
    void versionStatusRuntimeConfigAndHealth() throws Exception {
        try (DaemonProcess daemon = DaemonProcess.start()) {
            VersionResponse version = daemon.runtime().version(VersionRequest.newBuilder().setVersion("v1").build());
            assertEquals("coracle", version.getRuntimeName());
            assertEquals("v1", version.getRuntimeApiVersion());
            assertEquals("0.1.0", version.getVersion());
            assertTrue(version.getRuntimeVersion().matches("\\d+\\.\\d+\\.\\d+.*"), version.getRuntimeVersion());

            StatusResponse status = daemon.runtime().status(StatusRequest.newBuilder().setVerbose(true).build());
            Map<String, RuntimeCondition> conditions = status.getStatus().getConditionsList().stream()
                    .collect(Collectors.toMap(RuntimeCondition::getType, Function.identity()));
            assertTrue(conditions.get("RuntimeReady").getStatus(), conditions.get("RuntimeReady").toString());
            // The daemon wrote its default bridge network into the empty conf dir; the plugins are installed.
            assertTrue(conditions.get("NetworkReady").getStatus(), conditions.get("NetworkReady").toString());
            assertTrue(Files.exists(daemon.dir().resolve("cni/10-coracle.conflist")));
            assertTrue(status.getInfoMap().get("config").contains(daemon.dir().resolve("root").toString()));
            assertEquals("", status.getRuntimeHandlers(0).getName());

            assertEquals(CgroupDriver.CGROUPFS,
                    daemon.runtime().runtimeConfig(RuntimeConfigRequest.getDefaultInstance()).getLinux().getCgroupDriver());

            var health = HealthGrpc.newBlockingStub(daemon.channel()).withDeadlineAfter(10, TimeUnit.SECONDS);
            for (String service : List.of("", "runtime.v1.RuntimeService", "runtime.v1.ImageService")) {
                assertEquals(HealthCheckResponse.ServingStatus.SERVING,
                        health.check(HealthCheckRequest.newBuilder().setService(service).build()).getStatus(), service);
            }

            assertEquals(PosixFilePermissions.fromString("rw-rw----"), Files.getPosixFilePermissions(daemon.socket()));
        }
    }

    @Test
    void networkNotReadyWithoutPluginsNamesWhatIsMissing() throws Exception {
        Path dir = Files.createTempDirectory("coracle-it-");
        try (DaemonProcess daemon = DaemonProcess.launchWith(dir, "bin_dirs = [\"/nonexistent/cni\"]\n")) {
            daemon.awaitServing(Duration.ofSeconds(30));
            RuntimeCondition network = daemon.runtime().status(StatusRequest.getDefaultInstance()).getStatus()
                    .getConditionsList().stream().filter(c -> c.getType().equals("NetworkReady")).findFirst().orElseThrow();
            assertFalse(network.getStatus());
            assertEquals("NetworkPluginNotReady", network.getReason());
            assertTrue(network.getMessage().contains("not found in [/nonexistent/cni]"), network.getMessage());
        }
    }

    @Test
    void withoutTheDefaultNetworkTheNodeWaitsForTheClustersNetwork() throws Exception {
        Path dir = Files.createTempDirectory("coracle-it-");
        try (DaemonProcess daemon = DaemonProcess.launchWith(dir, "default_network = false\n")) {
            daemon.awaitServing(Duration.ofSeconds(30));
            RuntimeCondition network = networkCondition(daemon);
            assertFalse(network.getStatus());
            assertEquals("NetworkPluginNotReady", network.getReason());
            assertTrue(network.getMessage().startsWith("cni config uninitialized"), network.getMessage());
            assertFalse(Files.exists(dir.resolve("cni/10-coracle.conflist")), "no default network written");

            // The cluster's network plugin installs its config later: used without a restart.
            Files.createDirectories(dir.resolve("cni"));
            Files.writeString(dir.resolve("cni/10-cluster.conflist"), """
                    {"cniVersion": "1.0.0", "name": "cluster", "plugins": [{"type": "bridge", "bridge": "%s",
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.218.0.0/24"}]]}}]}
                    """.formatted(daemon.bridge()));
            network = networkCondition(daemon);
            assertTrue(network.getStatus(), network.toString());
        }
    }

    private static RuntimeCondition networkCondition(DaemonProcess daemon) {
        return daemon.runtime().status(StatusRequest.getDefaultInstance()).getStatus().getConditionsList().stream()
                .filter(c -> c.getType().equals("NetworkReady")).findFirst().orElseThrow();
    }

    @Test
    void podCidrFromTheKubeletReachesTheDefaultNetwork() throws Exception {
        try (DaemonProcess daemon = DaemonProcess.start()) {
            Path conflist = daemon.dir().resolve("cni/10-coracle.conflist");
            String before = Files.readString(conflist);
            daemon.runtime().updateRuntimeConfig(io.coracle.cri.v1.UpdateRuntimeConfigRequest.newBuilder()
                    .setRuntimeConfig(io.coracle.cri.v1.RuntimeConfig.newBuilder().setNetworkConfig(
                            io.coracle.cri.v1.NetworkConfig.newBuilder().setPodCidr("10.219.7.0/24,fd00:7::/64")))
                    .build());
            String after = Files.readString(conflist);
            assertTrue(after.contains("\"subnet\": \"10.219.7.0/24\""), after);
            assertFalse(before.contains("10.219.7.0/24"));

            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> daemon.runtime()
                    .updateRuntimeConfig(io.coracle.cri.v1.UpdateRuntimeConfigRequest.newBuilder().setRuntimeConfig(
                            io.coracle.cri.v1.RuntimeConfig.newBuilder().setNetworkConfig(io.coracle.cri.v1.NetworkConfig
                                    .newBuilder().setPodCidr("ten.0.0.0/8"))).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("'ten.0.0.0/8' is not a CIDR"));
            assertEquals(after, Files.readString(conflist));
        }
    }

    @Test
    void rpcsNotBuiltAnswerUnimplementedNamingTheMethod() throws Exception {
        // A method of a newer CRI than Coracle's (CheckpointPod, KEP-5091), sent as raw bytes.
        io.grpc.MethodDescriptor.Marshaller<byte[]> bytes = new io.grpc.MethodDescriptor.Marshaller<>() {
            @Override
            public java.io.InputStream stream(byte[] value) {
                return new java.io.ByteArrayInputStream(value);
            }

            @Override
            public byte[] parse(java.io.InputStream stream) {
                try {
                    return stream.readAllBytes();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        };
        io.grpc.MethodDescriptor<byte[], byte[]> method = io.grpc.MethodDescriptor.<byte[], byte[]>newBuilder()
                .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
                .setFullMethodName("runtime.v1.RuntimeService/CheckpointPod")
                .setRequestMarshaller(bytes).setResponseMarshaller(bytes).build();
        try (DaemonProcess daemon = DaemonProcess.start()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> io.grpc.stub.ClientCalls
                    .blockingUnaryCall(daemon.channel(), method, io.grpc.CallOptions.DEFAULT
                            .withDeadlineAfter(30, TimeUnit.SECONDS), new byte[0]));
            assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("runtime.v1.RuntimeService/CheckpointPod"),
                    e.getStatus().getDescription());
        }
    }

    @Test
    void secondDaemonOnSameRootOrSocketRefuses() throws Exception {
        try (DaemonProcess first = DaemonProcess.start()) {
            long pid = first.process().pid();

            // Same root, different socket.
            Path other = Files.createTempDirectory("coracle-it-");
            try (DaemonProcess second = DaemonProcess.run(other, command(
                    "--socket", other.resolve("c.sock").toString(),
                    "--root", first.dir().resolve("root").toString(),
                    "--state", other.resolve("state").toString()))) {
                assertTrue(second.process().waitFor(30, TimeUnit.SECONDS));
                assertEquals(1, second.process().exitValue());
                String log = second.logText();
                assertTrue(log.contains("another Coracle daemon (pid " + pid + ") is already using root "
                        + first.dir().resolve("root")), log);
                assertFalse(Files.exists(other.resolve("c.sock")));
            }

            // Same socket, different root.
            Path third = Files.createTempDirectory("coracle-it-");
            try (DaemonProcess second = DaemonProcess.run(third, command(
                    "--socket", first.socket().toString(),
                    "--root", third.resolve("root").toString(),
                    "--state", third.resolve("state").toString()))) {
                assertTrue(second.process().waitFor(30, TimeUnit.SECONDS));
                assertEquals(1, second.process().exitValue());
                assertTrue(second.logText().contains("is already using socket " + first.socket()), second.logText());
            }

            // The first daemon still serves on its socket.
            assertEquals("coracle", first.runtime().version(VersionRequest.getDefaultInstance()).getRuntimeName());
        }
    }

    @Test
    void staleSocketFromDeadDaemonIsReplaced() throws Exception {
        Path dir = Files.createTempDirectory("coracle-it-");
        Path socket = dir.resolve("coracle.sock");
        // A socket file nobody listens on, as a killed daemon leaves behind.
        try (ServerSocketChannel stale = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            stale.bind(UnixDomainSocketAddress.of(socket));
        }
        assertTrue(Files.exists(socket));
        try (DaemonProcess daemon = DaemonProcess.launch(dir)) {
            daemon.awaitServing(Duration.ofSeconds(30));
            assertEquals("coracle", daemon.runtime().version(VersionRequest.getDefaultInstance()).getRuntimeName());
            assertTrue(daemon.logText().contains("removing stale socket " + socket), daemon.logText());
        }
    }

    @Test
    void sigtermRemovesSocketAndExitsZero() throws Exception {
        try (DaemonProcess daemon = DaemonProcess.start()) {
            assertEquals("coracle", daemon.runtime().version(VersionRequest.getDefaultInstance()).getRuntimeName());
            assertTrue(Files.exists(daemon.socket()));
            assertEquals(0, daemon.terminate(Duration.ofSeconds(20)));
            assertFalse(Files.exists(daemon.socket()), "socket still present after SIGTERM");
            assertTrue(daemon.logText().contains("stopped"), daemon.logText());
        }
    }

    @Test
    void badConfigFileExitsNonZeroNamingFileAndKey() throws Exception {
        Path dir = Files.createTempDirectory("coracle-it-");
        Path config = Files.writeString(dir.resolve("coracle.toml"), "log_level = \"info\"\nsocket_mode = 432\n");
        try (DaemonProcess daemon = DaemonProcess.launch(dir, "--config", config.toString())) {
            assertTrue(daemon.process().waitFor(30, TimeUnit.SECONDS));
            assertEquals(2, daemon.process().exitValue());
            assertTrue(daemon.logText().contains(config + ": unknown key 'socket_mode'"), daemon.logText());
            assertFalse(Files.exists(daemon.socket()));
        }
    }

    private static List<String> command(String... args) {
        List<String> c = new java.util.ArrayList<>(DaemonProcess.javaCommand());
        c.add("daemon");
        c.addAll(List.of(args));
        return c;
    }
}
