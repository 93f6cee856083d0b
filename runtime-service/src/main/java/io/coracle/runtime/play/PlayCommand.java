package io.coracle.runtime.play;

import io.coracle.cri.v1.ImageServiceGrpc;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** {@code coracle play [--socket PATH] [--down] FILE}: runs (or removes) a Pod manifest through a running daemon. */
public final class PlayCommand {
    private PlayCommand() {
    }

    /** Returns the exit code: 0 done, 1 the daemon refused, 2 the manifest is wrong. */
    public static int run(Path socket, Path manifest, boolean down, PrintStream out, PrintStream err) {
        PodManifest pod;
        try {
            pod = PodManifest.load(manifest);
        } catch (PodManifest.ManifestException e) {
            err.println("coracle play: " + e.getMessage());
            return 2;
        }
        if (!down) {
            for (String field : pod.unsupported()) {
                err.println("coracle play: " + manifest + ": " + field + " is not supported and is ignored");
            }
        }
        if (!Files.exists(socket)) {
            err.println("coracle play: no Coracle daemon at " + socket + " (start one with ./coracle daemon)");
            return 1;
        }
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
        try {
            PodPlayer player = new PodPlayer(
                    RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.MINUTES),
                    ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.MINUTES), out);
            if (down) {
                player.down(pod.pod());
            } else {
                player.up(pod.pod());
            }
            return 0;
        } catch (StatusRuntimeException e) {
            err.println("coracle play: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            return 1;
        } catch (IOException | RuntimeException e) {
            err.println("coracle play: " + e.getMessage());
            return 1;
        } finally {
            channel.shutdownNow();
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }
}
