package io.coracle.runtime.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.AttachRequest;
import io.coracle.cri.v1.ExecRequest;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PortForwardRequest;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ExitStatus;
import io.coracle.testing.PortForwardClient;
import io.coracle.testing.PortForwardStream;
import io.coracle.testing.RemoteCommandClient;
import io.coracle.testing.RemoteCommandSession;
import io.coracle.testing.StreamTransport;
import io.coracle.testing.UpgradeRefusedException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Exec, Attach and PortForward end to end: a real daemon, pod and containers, and our own SPDY and
 * WebSocket clients speaking the kubelet's protocols to the URLs the RPCs hand out.
 */
class StreamingIT {
    private static final Duration T = Duration.ofSeconds(20);
    private static final int HTTPD_PORT = 8080;

    private static CriTestbed bed;
    private static PodSandboxConfig pod;
    private static String podId, shell, server;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start("[streaming]\ntoken_ttl_seconds = 2\nidle_timeout_seconds = 3\n");
        pod = bed.pod("streaming").build();
        podId = bed.runPod(pod);
        // A shell reading stdin (for attach), and a busybox httpd serving a known page (for port-forward).
        shell = bed.createAndStart(podId, pod, CriTestbed.container("shell", "sh").setStdin(true));
        server = bed.createAndStart(podId, pod, CriTestbed.container("httpd", "sh", "-c",
                "mkdir -p /www && echo hello-from-the-pod > /www/index.html && head -c 3000000 /dev/zero > /www/big"
                        + " && exec httpd -f -p " + HTTPD_PORT + " -h /www"));
        awaitHttpd(server);
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    private static void awaitHttpd(String container) throws Exception {
        for (int i = 0; i < 100; i++) {
            ExitStatus s = exec(StreamTransport.SPDY, container, null, "sh", "-c", "netstat -ltn | grep -q :" + HTTPD_PORT)
                    .awaitExit(T);
            if (s.isSuccess()) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("httpd never listened");
    }

    private static URI execUrl(String container, boolean stdin, boolean stdout, boolean stderr, boolean tty,
                               String... cmd) {
        return URI.create(bed.runtime().exec(ExecRequest.newBuilder().setContainerId(container).addAllCmd(List.of(cmd))
                .setStdin(stdin).setStdout(stdout).setStderr(stderr).setTty(tty).build()).getUrl());
    }

    private static RemoteCommandSession exec(StreamTransport t, String container, String stdin, String... cmd)
            throws IOException {
        RemoteCommandSession s = RemoteCommandClient.connect(execUrl(container, stdin != null, true, true, false, cmd),
                t, stdin != null, true, true, false);
        if (stdin != null) {
            s.writeStdin(stdin);
            s.closeStdin();
        }
        return s;
    }

    @ParameterizedTest
    @EnumSource(StreamTransport.class)
    void execSeparatesStdoutFromStderrAndReportsSuccess(StreamTransport t) throws Exception {
        try (RemoteCommandSession s = exec(t, shell, null, "sh", "-c", "echo to-out; echo to-err >&2")) {
            ExitStatus status = s.awaitExit(T);
            assertTrue(status.isSuccess() && status.reported(), status.toString());
            assertEquals("to-out\n", s.stdoutText());
            assertEquals("to-err\n", s.stderrText());
            assertEquals(t == StreamTransport.SPDY ? "v4.channel.k8s.io" : "v5.channel.k8s.io", s.protocol());
            assertEquals(List.of(), s.protocolViolations());
        }
    }

    @ParameterizedTest
    @EnumSource(StreamTransport.class)
    void aNonZeroExitCodeComesBackOnTheErrorStream(StreamTransport t) throws Exception {
        try (RemoteCommandSession s = exec(t, shell, null, "sh", "-c", "echo partial; exit 42")) {
            ExitStatus status = s.awaitExit(T);
            assertEquals(ExitStatus.Kind.EXIT_CODE, status.kind(), status.toString());
            assertEquals(42, status.exitCode());
            assertEquals("partial\n", s.stdoutText());
        }
    }

    @ParameterizedTest
    @EnumSource(StreamTransport.class)
    void stdinIsPipedThroughCatUntilTheClientClosesIt(StreamTransport t) throws Exception {
        String input = "line one\nline two\n" + "x".repeat(200_000) + "\n";
        try (RemoteCommandSession s = exec(t, shell, input, "cat")) {
            assertTrue(s.awaitExit(T).isSuccess());
            assertEquals(input, s.stdoutText());
        }
    }

    @Test
    void anOldProtocolGetsTheExitCodeAsText() throws Exception {
        try (RemoteCommandSession s = RemoteCommandClient.connect(execUrl(shell, false, true, false, false, "false"),
                StreamTransport.SPDY, List.of("v2.channel.k8s.io"), false, true, false, false)) {
            assertEquals("v2.channel.k8s.io", s.protocol());
            ExitStatus status = s.awaitExit(T);
            assertEquals(ExitStatus.Kind.FAILURE, status.kind());
            assertTrue(status.raw().contains("non-zero exit code"), status.raw());
        }
    }

    @ParameterizedTest
    @EnumSource(StreamTransport.class)
    void aTtyExecSeesItsTerminalAndItsSize(StreamTransport t) throws Exception {
        URI url = execUrl(shell, true, true, false, true, "sh", "-c", "tty; read x; stty size; echo got:$x");
        try (RemoteCommandSession s = RemoteCommandClient.connect(url, t, true, true, false, true)) {
            s.resize(123, 45);
            assertTrue(s.awaitStdout(o -> o.contains("/dev/pts/"), T), s.stdoutText());
            Thread.sleep(200); // the size reaches the shim's FIFO asynchronously
            s.writeStdin("go\n");
            ExitStatus status = s.awaitExit(T);
            assertTrue(status.isSuccess(), status.toString());
            assertTrue(s.stdoutText().contains("45 123"), s.stdoutText());
            assertTrue(s.stdoutText().contains("got:go"), s.stdoutText());
        }
    }

    @ParameterizedTest
    @EnumSource(StreamTransport.class)
    void attachReachesTheContainersShellAndTwoAttachesSeeTheSameOutput(StreamTransport t) throws Exception {
        URI a = attachUrl(true), b = attachUrl(false);
        try (RemoteCommandSession first = RemoteCommandClient.connect(a, t, true, true, true, false);
             RemoteCommandSession second = RemoteCommandClient.connect(b, t, false, true, true, false)) {
            Thread.sleep(200); // both attached before the shell answers
            first.writeStdin("echo attached-$((6*7)); echo oops >&2\n");
            assertTrue(first.awaitStdout(o -> o.contains("attached-42\n"), T), first.stdoutText());
            assertTrue(second.awaitStdout(o -> o.contains("attached-42\n"), T), second.stdoutText());
            assertTrue(first.awaitStderr(e -> e.contains("oops"), T), first.stderrText());
            if (first.canCloseStdin()) {
                first.closeStdin(); // without stdin_once, this attach ends and the shell lives on
                assertTrue(first.awaitExit(T).isSuccess());
            }
        }
        assertEquals(io.coracle.cri.v1.ContainerState.CONTAINER_RUNNING, bed.status(shell).getState());
    }

    private static URI attachUrl(boolean stdin) {
        return URI.create(bed.runtime().attach(AttachRequest.newBuilder().setContainerId(shell).setStdin(stdin)
                .setStdout(true).setStderr(true).build()).getUrl());
    }

    @ParameterizedTest
    @EnumSource(StreamTransport.class)
    void attachToATtyContainerResizesItsTerminal(StreamTransport t) throws Exception {
        String tty = bed.createAndStart(podId, pod, CriTestbed.container("tty-" + t.name().toLowerCase(), "sh")
                .setStdin(true).setTty(true));
        URI url = URI.create(bed.runtime().attach(AttachRequest.newBuilder().setContainerId(tty).setStdin(true)
                .setStdout(true).setTty(true).build()).getUrl());
        try (RemoteCommandSession s = RemoteCommandClient.connect(url, t, true, true, false, true)) {
            s.resize(101, 33);
            Thread.sleep(300);
            s.writeStdin("stty size; tty\n");
            assertTrue(s.awaitStdout(o -> o.contains("33 101") && o.contains("/dev/pts/"), T), s.stdoutText());
        }
    }

    @Test
    void stdinOnceClosesTheContainersStdinWhenTheFirstAttachEnds() throws Exception {
        String cat = bed.createAndStart(podId, pod, CriTestbed.container("once", "cat").setStdin(true).setStdinOnce(true));
        URI url = URI.create(bed.runtime().attach(AttachRequest.newBuilder().setContainerId(cat).setStdin(true)
                .setStdout(true).build()).getUrl());
        try (RemoteCommandSession s = RemoteCommandClient.connect(url, StreamTransport.SPDY, true, true, false, false)) {
            Thread.sleep(200);
            s.writeStdin("once\n");
            assertTrue(s.awaitStdout(o -> o.equals("once\n"), T), s.stdoutText());
            s.closeStdin();
            assertTrue(s.awaitExit(T).isSuccess()); // cat saw EOF and exited, which ends the attach
        }
        assertEquals(0, bed.awaitStatus(cat, st -> st.getState() == io.coracle.cri.v1.ContainerState.CONTAINER_EXITED, T)
                .getExitCode());
    }

    @Test
    void aContainerThatNeverReadsStdinCannotWedgeStopOrExecWhile100MiBStreamIntoItsAttach() throws Exception {
        String sleeper = bed.createAndStart(podId, pod, CriTestbed.container("deaf", "sleep", "1000").setStdin(true));
        URI url = URI.create(bed.runtime().attach(AttachRequest.newBuilder().setContainerId(sleeper).setStdin(true)
                .setStdout(true).build()).getUrl());
        try (RemoteCommandSession s = RemoteCommandClient.connect(url, StreamTransport.SPDY, true, true, false, false)) {
            java.util.concurrent.atomic.AtomicLong sent = new java.util.concurrent.atomic.AtomicLong();
            Thread writer = Thread.ofVirtual().start(() -> {
                byte[] chunk = new byte[1 << 20];
                try {
                    while (sent.get() < 100L << 20) {
                        s.writeStdin(chunk);
                        sent.addAndGet(chunk.length);
                    }
                } catch (IOException e) {
                    // the container stopped
                }
            });
            // The test client queues what the connection does not take yet (SPDY has no flow control), so
            // how far the writer got says nothing: what counts is that the shim and the daemon still answer.
            writer.join(2000);
            // The shim still answers: an exec runs, and the stop ends the container well within its timeout.
            ExitStatus alive = exec(StreamTransport.SPDY, sleeper, null, "echo", "alive").awaitExit(T);
            assertTrue(alive.isSuccess());
            long t0 = System.nanoTime();
            bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(sleeper).setTimeout(2).build());
            // Within its 2 s timeout (sleep as PID 1 ignores SIGTERM, so SIGKILL at 2 s), plus scheduling slack only.
            assertTrue(System.nanoTime() - t0 < 4_000_000_000L, "stop took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            assertEquals(io.coracle.cri.v1.ContainerState.CONTAINER_EXITED, bed.status(sleeper).getState());
            int code = bed.status(sleeper).getExitCode();
            assertTrue(code == 137 || code == 143, "exit code " + code); // SIGKILL, or SIGTERM if not PID 1
            writer.join(10_000);
        }
    }

    private static URI portForwardUrl(String pod) {
        return URI.create(bed.runtime().portForward(PortForwardRequest.newBuilder().setPodSandboxId(pod).build()).getUrl());
    }

    private static String httpGet(PortForwardStream s, String path) throws IOException {
        s.output().write(("GET " + path + " HTTP/1.0\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        s.output().flush();
        return new String(s.input().readAllBytes(), StandardCharsets.ISO_8859_1);
    }

    @Test
    void portForwardOverSpdyCarriesConcurrentConnectionsIntoThePod() throws Exception {
        try (PortForwardClient pf = PortForwardClient.connectSpdy(portForwardUrl(podId));
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<String>> pages = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                String path = i % 2 == 0 ? "/index.html" : "/big";
                pages.add(pool.submit(() -> {
                    try (PortForwardStream s = pf.open(HTTPD_PORT)) {
                        return httpGet(s, path);
                    }
                }));
            }
            for (int i = 0; i < pages.size(); i++) {
                String page = pages.get(i).get();
                assertTrue(page.startsWith("HTTP/1.") && page.contains(" 200 "), page.lines().findFirst().orElse(""));
                if (i % 2 == 0) {
                    assertTrue(page.endsWith("\r\n\r\nhello-from-the-pod\n"), page);
                } else {
                    assertEquals(3_000_000, page.length() - page.indexOf("\r\n\r\n") - 4);
                }
            }
        }
    }

    @Test
    void aPortNobodyListensOnIsAnErrorOnItsErrorStreamOnly() throws Exception {
        try (PortForwardClient pf = PortForwardClient.connectSpdy(portForwardUrl(podId))) {
            PortForwardStream refused = pf.open(9);
            String error = refused.awaitError(T);
            assertTrue(error.contains("Connection refused") && error.contains("port 9"), error);
            try (PortForwardStream ok = pf.open(HTTPD_PORT)) { // the same connection still forwards
                assertTrue(httpGet(ok, "/index.html").endsWith("hello-from-the-pod\n"));
            }
        }
    }

    @Test
    void portForwardOverWebSocketHasAChannelPairPerPort() throws Exception {
        List<PortForwardStream> streams = PortForwardClient.connectWebSocket(portForwardUrl(podId), HTTPD_PORT, 9);
        try {
            assertEquals(List.of(HTTPD_PORT, 9), streams.stream().map(PortForwardStream::port).toList());
            // No channel half-close over WebSocket: the error is there while the connection lives on.
            long deadline = System.nanoTime() + T.toNanos();
            while (!streams.get(1).errorText().contains("Connection refused") && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(streams.get(1).errorText().contains("Connection refused"), streams.get(1).errorText());
            assertTrue(httpGet(streams.get(0), "/index.html").endsWith("hello-from-the-pod\n"));
        } finally {
            streams.forEach(PortForwardStream::close);
        }
    }

    @Test
    void portForwardReachesAHostNetworkPod() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        PodSandboxConfig hostPod = bed.pod("hostnet").setLinux(LinuxPodSandboxConfig.newBuilder()
                .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(
                        NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE)))).build();
        String hostPodId = bed.runPod(hostPod);
        try {
            String httpd = bed.createAndStart(hostPodId, hostPod, CriTestbed.container("hostweb", "sh", "-c",
                    "mkdir -p /www && echo hello-from-the-host-pod > /www/index.html && exec httpd -f -p 127.0.0.1:" + port
                            + " -h /www"));
            for (int i = 0; i < 100 && !exec(StreamTransport.SPDY, httpd, null, "sh", "-c", "netstat -ltn | grep -q :" + port)
                    .awaitExit(T).isSuccess(); i++) {
                Thread.sleep(50);
            }
            try (PortForwardClient pf = PortForwardClient.connectSpdy(portForwardUrl(hostPodId));
                 PortForwardStream s = pf.open(port)) {
                assertTrue(httpGet(s, "/index.html").endsWith("hello-from-the-host-pod\n"));
            }
        } finally {
            bed.removePod(hostPodId);
        }
    }

    @Test
    void reusedAndExpiredUrlsAreRefusedWith404() throws Exception {
        URI url = execUrl(shell, false, true, false, false, "true");
        try (RemoteCommandSession s = RemoteCommandClient.connect(url, StreamTransport.SPDY, false, true, false, false)) {
            assertTrue(s.awaitExit(T).isSuccess());
        }
        UpgradeRefusedException reused = assertThrows(UpgradeRefusedException.class,
                () -> RemoteCommandClient.connect(url, StreamTransport.SPDY, false, true, false, false));
        assertEquals(404, reused.statusCode());

        URI late = execUrl(shell, false, true, false, false, "true");
        Thread.sleep(2500); // the test daemon's URLs live 2 s
        UpgradeRefusedException expired = assertThrows(UpgradeRefusedException.class,
                () -> RemoteCommandClient.connect(late, StreamTransport.WEBSOCKET, false, true, false, false));
        assertEquals(404, expired.statusCode());
        assertTrue(expired.body().contains("expired"), expired.body());
    }

    @Test
    void anIdleConnectionIsClosedButTheCommandIsNotKilled() throws Exception {
        long start = System.nanoTime();
        try (RemoteCommandSession s = RemoteCommandClient.connect(execUrl(shell, false, true, false, false, "sh", "-c",
                "sleep 6; echo done > /tmp/idle-exec"), StreamTransport.SPDY, false, true, false, false)) {
            while (!s.isEnded() && System.nanoTime() - start < T.toNanos()) {
                Thread.sleep(50);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            assertTrue(s.isEnded() && seconds >= 2.5 && seconds < 6, "ended " + s.isEnded() + " after " + seconds + " s");
        }
        Thread.sleep(Math.max(0, 7_000 - (System.nanoTime() - start) / 1_000_000));
        try (RemoteCommandSession cat = exec(StreamTransport.SPDY, shell, null, "cat", "/tmp/idle-exec")) {
            cat.awaitExit(T);
            assertEquals("done\n", cat.stdoutText()); // the exec ran to its end after the client was cut off
        }
    }

    @Test
    void badRequestsGetTheRightStatus() throws Exception {
        assertCode(Status.Code.INVALID_ARGUMENT, "tty and stderr", () -> execUrl(shell, false, true, true, true, "sh"));
        assertCode(Status.Code.INVALID_ARGUMENT, "one of stdin, stdout or stderr",
                () -> execUrl(shell, false, false, false, false, "sh"));
        assertCode(Status.Code.INVALID_ARGUMENT, "cmd: empty", () -> execUrl(shell, false, true, false, false));
        assertCode(Status.Code.NOT_FOUND, "container nosuch", () -> execUrl("nosuch", false, true, false, false, "sh"));
        assertCode(Status.Code.NOT_FOUND, "pod sandbox nosuch", () -> portForwardUrl("nosuch"));
        assertCode(Status.Code.INVALID_ARGUMENT, "port[0]: 0", () -> bed.runtime().portForward(
                PortForwardRequest.newBuilder().setPodSandboxId(podId).addPort(0).build()));
        String stopped = bed.createAndStart(podId, pod, CriTestbed.container("stopped", "sleep", "60"));
        bed.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(stopped).setTimeout(0).build());
        assertCode(Status.Code.FAILED_PRECONDITION, "is not running", () -> execUrl(stopped, false, true, false, false, "sh"));
        assertCode(Status.Code.FAILED_PRECONDITION, "without stdin", () -> bed.runtime().attach(AttachRequest.newBuilder()
                .setContainerId(server).setStdin(true).setStdout(true).build()));
    }

    private static void assertCode(Status.Code code, String message, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains(message), e.getStatus().getDescription());
    }

    @Test
    void aMalformedSpdyFrameClosesOnlyItsOwnConnection() throws Exception {
        URI url = execUrl(shell, false, true, false, false, "echo", "still-serving");
        URI bad = execUrl(shell, false, true, false, false, "true");
        try (Socket raw = new Socket(bad.getHost(), bad.getPort())) {
            raw.setSoTimeout(10_000);
            OutputStream out = raw.getOutputStream();
            out.write(("POST " + bad.getPath() + " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                    + "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            InputStream in = raw.getInputStream();
            String head = readHead(in);
            assertTrue(head.startsWith("HTTP/1.1 101"), head);
            // A SYN_STREAM whose header block is not zlib at all.
            out.write(new byte[] {(byte) 0x80, 3, 0, 1, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6});
            out.flush();
            assertEquals(-1, in.read()); // the server hangs up
        }
        try (RemoteCommandSession s = RemoteCommandClient.connect(url, StreamTransport.SPDY, false, true, false, false)) {
            assertTrue(s.awaitExit(T).isSuccess());
            assertEquals("still-serving\n", s.stdoutText());
        }
    }

    private static String readHead(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        while (!b.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                break;
            }
            b.append((char) c);
        }
        return b.toString();
    }

    @Test
    void aThousandExecsLeaveNoZombieFdOrThreadBehind() throws Exception {
        long daemon = bed.daemon.process().pid();
        for (int i = 0; i < 20; i++) {
            exec(StreamTransport.SPDY, shell, null, "true").awaitExit(T);
        }
        Thread.sleep(500);
        long fds = count("/proc/" + daemon + "/fd"), threads = count("/proc/" + daemon + "/task");
        for (int i = 0; i < 1000; i++) {
            try (RemoteCommandSession s = exec(StreamTransport.SPDY, shell, null, "true")) {
                assertTrue(s.awaitExit(T).isSuccess(), "exec " + i);
            }
        }
        Thread.sleep(1000); // the last sessions' sockets and exec processes close
        assertEquals(List.of(), zombieChildren(daemon));
        long fdsAfter = count("/proc/" + daemon + "/fd"), threadsAfter = count("/proc/" + daemon + "/task");
        assertTrue(fdsAfter <= fds + 5, "fds " + fds + " -> " + fdsAfter);
        assertTrue(threadsAfter <= threads + 5, "threads " + threads + " -> " + threadsAfter);
    }

    private static long count(String dir) throws IOException {
        try (Stream<Path> s = Files.list(Path.of(dir))) {
            return s.count();
        }
    }

    private static List<String> zombieChildren(long parent) throws IOException {
        List<String> zombies = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String stat = Files.readString(p.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    if (f[0].equals("Z") && Long.parseLong(f[1]) == parent) {
                        zombies.add(p.getFileName() + " " + stat);
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            }
        }
        return zombies;
    }
}
