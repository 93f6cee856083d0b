package io.coracle.runtime.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.VersionRequest;
import io.coracle.testing.DaemonProcess;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A daemon run as systemd runs a Type=notify unit: $NOTIFY_SOCKET and $WATCHDOG_USEC set, a datagram socket bound. */
class SystemdNotifyIT {
    @TempDir
    Path dir;

    @Test
    void readyOnlyOnceTheCriSocketServesThenWatchdogThenStopping() throws Exception {
        Path notify = dir.resolve("notify");
        Path socket = dir.resolve("coracle.sock");
        Path config = Files.writeString(dir.resolve("coracle.toml"), """
                [cni]
                conf_dir = "%s"
                [metrics]
                enabled = false
                """.formatted(dir.resolve("cni")));
        List<String> command = new ArrayList<>(DaemonProcess.javaCommand());
        command.addAll(List.of("daemon", "--config", config.toString(), "--socket", socket.toString(),
                "--root", dir.resolve("root").toString(), "--state", dir.resolve("state").toString()));
        try (NotifySocket systemd = new NotifySocket(notify.toString())) {
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("daemon.log").toFile());
            builder.environment().put("NOTIFY_SOCKET", notify.toString());
            builder.environment().put("WATCHDOG_USEC", "400000");
            Process daemon = builder.start();
            try {
                String ready = systemd.receive(Duration.ofSeconds(60));
                assertNotNull(ready, "READY=1 within 60 s; daemon log:\n" + Files.readString(dir.resolve("daemon.log")));
                // At READY=1 the socket listens (a connect succeeds at once) and serves a CRI call.
                try (java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open(
                        java.net.UnixDomainSocketAddress.of(socket))) {
                    assertTrue(c.isConnected());
                }
                assertEquals("coracle", version(socket));
                assertEquals("READY=1\nSTATUS=serving CRI on unix://" + socket + "\nMAINPID=" + daemon.pid() + "\n", ready);

                List<String> pings = systemd.receiveFor(Duration.ofMillis(1100));
                assertTrue(pings.size() >= 3 && pings.stream().allMatch("WATCHDOG=1\n"::equals),
                        "WATCHDOG=1 every 200 ms: " + pings);

                daemon.destroy(); // SIGTERM, as systemctl stop
                String stopping = null;
                for (int i = 0; i < 100 && stopping == null; i++) {
                    String m = systemd.receive(Duration.ofSeconds(10));
                    assertNotNull(m, "STOPPING=1 after SIGTERM");
                    stopping = m.startsWith("WATCHDOG=1") ? null : m;
                }
                assertTrue(stopping.startsWith("STOPPING=1\nSTATUS=stopping"), stopping);
                assertTrue(daemon.waitFor(30, TimeUnit.SECONDS));
                assertEquals(0, daemon.exitValue());
            } finally {
                daemon.destroyForcibly().waitFor();
            }
        }
    }

    private static String version(Path socket) throws InterruptedException {
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
        try {
            return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .version(VersionRequest.getDefaultInstance()).getRuntimeName();
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }
}
