package io.coracle.runtime.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ExecRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.DaemonProcess;
import io.coracle.testing.ExitStatus;
import io.coracle.testing.RemoteCommandClient;
import io.coracle.testing.RemoteCommandSession;
import io.coracle.testing.StreamTransport;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The streaming server starts at the first Exec, Attach or PortForward on the defaults, and with the
 * daemon when a port is configured: a port taken then stops the start.
 */
class StreamingOnDemandIT {
    private static final Duration T = Duration.ofSeconds(20);

    @Test
    void onTheDefaultsNothingStreamsUntilTheFirstExec() throws Exception {
        try (CriTestbed bed = CriTestbed.start()) {
            Path forwardSocket = bed.daemon.dir().resolve("state").resolve("portforward.sock");
            long pid = bed.daemon.process().pid();
            PodSandboxConfig pod = bed.pod("on-demand").build();
            String podId = bed.runPod(pod);
            String shell = bed.createAndStart(podId, pod, CriTestbed.container("shell", "sleep", "600"));

            assertFalse(Files.exists(forwardSocket), "port-forward socket bound before any stream");
            assertEquals(List.of(), eventLoopThreads(pid), "a Netty event loop runs before any stream");
            assertFalse(bed.daemon.logText().contains("streaming server on"), bed.daemon.logText());

            URI first = exec(bed, shell, "echo streamed");
            try (RemoteCommandSession s = RemoteCommandClient.connect(first, StreamTransport.WEBSOCKET, false, true,
                    true, false)) {
                ExitStatus status = s.awaitExit(T);
                assertTrue(status.isSuccess(), status.toString());
                assertEquals("streamed\n", s.stdoutText());
            }
            assertTrue(Files.exists(forwardSocket), "port-forward socket missing after the first Exec");
            assertEquals(1, eventLoopThreads(pid).size(), eventLoopThreads(pid).toString());

            // Started once: the next URL is on the same server.
            URI second = exec(bed, shell, "true");
            assertEquals(first.getAuthority(), second.getAuthority());
            assertEquals(1, bed.daemon.logText().split("streaming server on", -1).length - 1, bed.daemon.logText());
            bed.removePod(podId);
        }
    }

    @Test
    void aConfiguredPortIsBoundAtStartAndServedBeforeAnyExec() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Path dir = Files.createTempDirectory("coracle-it-");
        try (DaemonProcess daemon = DaemonProcess.launchWith(dir, "[streaming]\nport = %d\n".formatted(port))) {
            daemon.awaitServing(T);
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                assertTrue(s.isConnected());
            }
            assertTrue(daemon.logText().contains("streaming server on http://127.0.0.1:" + port), daemon.logText());
        }
    }

    @Test
    void aConfiguredPortAlreadyTakenStopsTheStart() throws Exception {
        Path dir = Files.createTempDirectory("coracle-it-");
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             DaemonProcess daemon = DaemonProcess.launchWith(dir,
                     "[streaming]\nport = %d\n".formatted(taken.getLocalPort()))) {
            assertTrue(daemon.process().waitFor(30, TimeUnit.SECONDS), "daemon still running: " + daemon.logText());
            assertEquals(1, daemon.process().exitValue(), daemon.logText());
            assertTrue(daemon.logText().contains("cannot start the streaming server: cannot bind 127.0.0.1:"
                    + taken.getLocalPort()), daemon.logText());
            assertFalse(daemon.logText().contains("serving CRI on"), daemon.logText());
        }
    }

    private static URI exec(CriTestbed bed, String container, String script) {
        return URI.create(bed.runtime().exec(ExecRequest.newBuilder().setContainerId(container)
                .addAllCmd(List.of("sh", "-c", script)).setStdout(true).setStderr(true).build()).getUrl());
    }

    /** The daemon's threads named as Netty names its event loops (the kernel keeps 15 characters of a name). */
    private static List<String> eventLoopThreads(long pid) throws IOException {
        List<String> names = new ArrayList<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                try {
                    String comm = Files.readString(t.resolve("comm")).strip();
                    if (comm.startsWith("multiThreadIoEv")) {
                        names.add(comm);
                    }
                } catch (IOException e) {
                    // the thread ended meanwhile
                }
            }
        }
        return names;
    }
}
