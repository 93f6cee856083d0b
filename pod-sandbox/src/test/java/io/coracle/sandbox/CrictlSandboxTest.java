package io.coracle.sandbox;

import static io.coracle.sandbox.PodFixture.exec;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.ListPodSandboxResponse;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PodSandboxStatusResponse;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RemovePodSandboxResponse;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxResponse;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxResponse;
import io.coracle.cri.v1.VersionRequest;
import io.coracle.cri.v1.VersionResponse;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * crictl runp / pods / inspectp / stopp / rmp against the sandbox RPCs, served by a minimal
 * unix-socket gRPC facade in the test (the daemon's real facade lives in runtime-service).
 */
@EnabledIf("crictlInstalled")
class CrictlSandboxTest {
    private PodFixture f;
    private Server server;
    private MultiThreadIoEventLoopGroup loop;
    private Path socket;

    static boolean crictlInstalled() {
        return Files.isExecutable(Path.of("/usr/local/bin/crictl")) || Files.isExecutable(Path.of("/usr/bin/crictl"));
    }

    /** Only the sandbox RPCs (and Version, which crictl asks first). */
    private static final class Facade extends RuntimeServiceGrpc.RuntimeServiceImplBase {
        private final SandboxService s;

        Facade(SandboxService s) {
            this.s = s;
        }

        private static <Q, R> void call(Q req, StreamObserver<R> out, Function<Q, R> f) {
            try {
                out.onNext(f.apply(req));
                out.onCompleted();
            } catch (RuntimeException e) {
                out.onError(io.coracle.cri.CriStatus.toGrpc("", e));
            }
        }

        @Override
        public void version(VersionRequest r, StreamObserver<VersionResponse> o) {
            call(r, o, q -> VersionResponse.newBuilder().setVersion("0.1.0").setRuntimeName("coracle")
                    .setRuntimeVersion("test").setRuntimeApiVersion("v1").build());
        }

        @Override
        public void runPodSandbox(RunPodSandboxRequest r, StreamObserver<RunPodSandboxResponse> o) {
            call(r, o, s::run);
        }

        @Override
        public void stopPodSandbox(StopPodSandboxRequest r, StreamObserver<StopPodSandboxResponse> o) {
            call(r, o, s::stop);
        }

        @Override
        public void removePodSandbox(RemovePodSandboxRequest r, StreamObserver<RemovePodSandboxResponse> o) {
            call(r, o, s::remove);
        }

        @Override
        public void podSandboxStatus(PodSandboxStatusRequest r, StreamObserver<PodSandboxStatusResponse> o) {
            call(r, o, s::status);
        }

        @Override
        public void listPodSandbox(ListPodSandboxRequest r, StreamObserver<ListPodSandboxResponse> o) {
            call(r, o, s::list);
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        f = new PodFixture();
        socket = f.tmp.resolve("crictl.sock");
        loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class).bossEventLoopGroup(loop).workerEventLoopGroup(loop)
                .executor(Executors.newVirtualThreadPerTaskExecutor())
                .addService(new Facade(f.service)).build().start();
    }

    @AfterEach
    void tearDown() throws Exception {
        server.shutdownNow().awaitTermination();
        loop.shutdownGracefully().sync();
        f.close();
    }

    private String crictl(String... args) throws Exception {
        // An empty config of its own: no /etc/crictl.yaml of the machine, and no warning about a missing one.
        Path config = socket.resolveSibling("crictl.yaml");
        if (!Files.exists(config)) {
            Files.createFile(config);
        }
        List<String> cmd = new java.util.ArrayList<>(List.of("crictl", "--config", config.toString(),
                "--runtime-endpoint", "unix://" + socket,
                "--image-endpoint", "unix://" + socket, "--timeout", "20s"));
        cmd.addAll(List.of(args));
        PodFixture.Result r = exec(60, cmd.toArray(String[]::new));
        if (r.code() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " exited " + r.code() + ": " + r.out());
        }
        return r.out();
    }

    @Test
    void crictlRunpPodsInspectpStoppRmp() throws Exception {
        Path podJson = f.tmp.resolve("pod.json");
        Files.writeString(podJson, """
                {"metadata": {"name": "crictl-pod", "namespace": "coracle-test", "uid": "crictl-uid-1", "attempt": 1},
                 "hostname": "crictl-host", "log_directory": "%s",
                 "dns_config": {"servers": ["10.96.0.10"], "searches": ["svc.cluster.local"], "options": ["ndots:5"]},
                 "labels": {"app": "crictl"}, "annotations": {"owner": "coracle-test"},
                 "linux": {"cgroup_parent": "%s/pod-crictl"}}
                """.formatted(f.tmp.resolve("logs"), f.cgroupRoot));
        String id = crictl("runp", podJson.toString()).trim();
        assertEquals(64, id.length(), id);

        String pods = crictl("pods", "--no-trunc");
        assertTrue(pods.contains(id) && pods.contains("crictl-pod") && pods.contains("Ready") && pods.contains("coracle-test"), pods);
        assertTrue(crictl("pods", "-q", "--label", "app=crictl").contains(id));
        assertFalse(crictl("pods", "-q", "--label", "app=other").contains(id));

        JsonNode inspect = new ObjectMapper().readTree(crictl("inspectp", id));
        assertEquals("SANDBOX_READY", inspect.at("/status/state").asText());
        assertEquals(f.get(id).ip(), inspect.at("/status/network/ip").asText());
        assertEquals("crictl-host", inspect.at("/info/config/hostname").asText());
        assertEquals(f.get(id).pausePid(), inspect.at("/info/pid").asInt());

        // The same config again is the kubelet's retry: it gets the same pod. Another config under the name is refused.
        assertEquals(id, crictl("runp", podJson.toString()).trim());
        Path otherJson = Files.writeString(f.tmp.resolve("pod-other.json"),
                Files.readString(podJson).replace("crictl-host", "crictl-other"));
        PodFixture.Result dup = exec(60, "crictl", "--runtime-endpoint", "unix://" + socket, "runp", otherJson.toString());
        assertTrue(dup.code() != 0 && dup.out().contains("name is reserved for sandbox " + id), dup.out());

        Sandbox s = f.get(id);
        crictl("stopp", id);
        assertTrue(crictl("pods", "--no-trunc").contains("NotReady"));
        crictl("stopp", id);
        crictl("rmp", id);
        assertFalse(crictl("pods", "-q").contains(id));
        assertEquals(List.of(), f.traces(s));
    }
}
