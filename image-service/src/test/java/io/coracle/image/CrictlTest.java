package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.coracle.image.content.ManifestDocument;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** crictl pull, images, inspecti, rmi and imagefsinfo against CriImageService on a unix socket. */
class CrictlTest {
    static final Path CRICTL = Path.of("/usr/local/bin/crictl");

    @TempDir
    Path tmp;
    LocalRegistry registry;
    ImageService images;
    Server server;
    EventLoopGroup group;
    Path socket;

    @BeforeEach
    void start() throws Exception {
        assumeTrue(Files.isExecutable(CRICTL), "crictl not installed");
        registry = LocalRegistry.start(tmp.resolve("registry"), true);
        images = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64"));
        socket = tmp.resolve("coracle.sock");
        group = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
        server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(group).workerEventLoopGroup(group)
                .executor(Executors.newVirtualThreadPerTaskExecutor())
                .addService(new CriImageService(images))
                .build().start();
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            images.close();
            registry.close();
        }
    }

    record Result(int rc, String out) {
    }

    Result crictl(String... args) throws Exception {
        // An empty config of its own: no /etc/crictl.yaml of the machine, and no warning about a missing one.
        Path config = socket.resolveSibling("crictl.yaml");
        if (!Files.exists(config)) {
            Files.createFile(config);
        }
        List<String> cmd = new ArrayList<>(List.of(CRICTL.toString(), "--config", config.toString(),
                "--image-endpoint", "unix://" + socket,
                "--runtime-endpoint", "unix://" + socket, "--timeout", "60s"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        return new Result(p.waitFor(), out);
    }

    @Test
    void crictlImageCommands() throws Exception {
        TestImage img = ImagePullTest.busyboxImage();
        img.push(new RegistryPusher(registry.base(), LocalRegistry.USER, LocalRegistry.PASSWORD), "tools/busybox", "1.36");
        String ref = registry.host() + "/tools/busybox:1.36";

        Result denied = crictl("pull", ref);
        assertTrue(denied.rc() != 0, denied.out());
        assertTrue(denied.out().contains("PermissionDenied") || denied.out().contains("refused access"), denied.out());

        Result pull = crictl("pull", "--creds", LocalRegistry.USER + ":" + LocalRegistry.PASSWORD, ref);
        assertEquals(0, pull.rc(), pull.out());
        assertTrue(pull.out().contains(img.configDigest().toString()), pull.out());

        Result list = crictl("images", "--digests");
        assertEquals(0, list.rc(), list.out());
        assertTrue(list.out().contains(registry.host() + "/tools/busybox") && list.out().contains("1.36"), list.out());

        Result inspect = crictl("inspecti", ref);
        assertEquals(0, inspect.rc(), inspect.out());
        JsonNode json = ManifestDocument.JSON.readTree(inspect.out());
        assertEquals(img.configDigest().toString(), json.path("status").path("id").asText());
        assertEquals("1000", json.path("status").path("uid").path("value").asText());
        assertEquals("/bin/busybox", json.path("info").path("imageSpec").path("config").path("Entrypoint").get(0).asText());

        Result fs = crictl("imagefsinfo");
        assertEquals(0, fs.rc(), fs.out());
        assertTrue(fs.out().contains(tmp.resolve("root").toString()), fs.out());

        Result bad = crictl("inspecti", "Not:A:Ref");
        assertTrue(bad.rc() != 0 && bad.out().contains("InvalidArgument"), bad.out());

        Result rmi = crictl("rmi", ref);
        assertEquals(0, rmi.rc(), rmi.out());
        Result after = crictl("images", "-q");
        assertEquals(0, after.rc(), after.out());
        assertFalse(after.out().contains("sha256"), after.out());
    }
}
