package io.coracle.runtime.bench;

import io.coracle.cri.v1.ExecRequest;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PortForwardRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ExitStatus;
import io.coracle.testing.PortForwardClient;
import io.coracle.testing.PortForwardStream;
import io.coracle.testing.RemoteCommandClient;
import io.coracle.testing.RemoteCommandSession;
import io.coracle.testing.StreamTransport;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Prints the median latency of ExecSync {@code true} and of a streaming exec {@code true} (SPDY,
 * URL request included) over N runs, interleaved, and the throughput of a 100 MB download from a
 * busybox httpd in a pod: straight to the pod's IP, through SPDY port-forward and through
 * WebSocket port-forward, interleaved, 3 rounds. Run: {@code ./coracle bench streaming [N]}.
 */
public final class StreamingBenchmark {
    private static final int PORT = 8080;
    private static final long SIZE = 100_000_000;
    private static final Duration T = Duration.ofSeconds(60);

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        try (CriTestbed bed = CriTestbed.start()) {
            PodSandboxConfig pod = bed.pod("bench-streaming").build();
            String podId = bed.runPod(pod);
            String c = bed.createAndStart(podId, pod, CriTestbed.container("web", "sh", "-c",
                    "mkdir -p /www && head -c " + SIZE + " /dev/urandom > /www/big && exec httpd -f -p " + PORT + " -h /www"));
            var rt = bed.runtime();
            for (int i = 0; i < 200; i++) {
                var r = rt.execSync(ExecSyncRequest.newBuilder().setContainerId(c)
                        .addAllCmd(List.of("sh", "-c", "test -f /www/big && netstat -ltn | grep -q :" + PORT)).build());
                if (r.getExitCode() == 0) {
                    break;
                }
                Thread.sleep(100);
            }

            List<Double> sync = new ArrayList<>(), streamed = new ArrayList<>();
            for (int i = 0; i < n + 10; i++) {
                long t = System.nanoTime();
                int code = rt.execSync(ExecSyncRequest.newBuilder().setContainerId(c).addCmd("true").build()).getExitCode();
                double syncMs = (System.nanoTime() - t) / 1e6;
                t = System.nanoTime();
                URI url = URI.create(rt.exec(ExecRequest.newBuilder().setContainerId(c).addCmd("true").setStdout(true)
                        .build()).getUrl());
                ExitStatus s;
                try (RemoteCommandSession session = RemoteCommandClient.connect(url, StreamTransport.SPDY, false, true,
                        false, false)) {
                    s = session.awaitExit(T);
                }
                double streamMs = (System.nanoTime() - t) / 1e6;
                if (code != 0 || !s.isSuccess()) {
                    throw new IllegalStateException("exec true failed: " + code + " / " + s);
                }
                if (i >= 10) {
                    sync.add(syncMs);
                    streamed.add(streamMs);
                }
            }
            System.out.printf("exec `true`, %d runs each, interleaved (after 10 warm-up rounds)%n", n);
            System.out.printf("%-32s %9s %9s%n", "", "p50 ms", "p90 ms");
            System.out.printf("%-32s %9.1f %9.1f%n", "ExecSync", ContainerBenchmark.pct(sync, 50),
                    ContainerBenchmark.pct(sync, 90));
            System.out.printf("%-32s %9.1f %9.1f%n", "Exec + SPDY session", ContainerBenchmark.pct(streamed, 50),
                    ContainerBenchmark.pct(streamed, 90));

            String ip = rt.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).build())
                    .getStatus().getNetwork().getIp();
            List<Double> direct = new ArrayList<>(), spdy = new ArrayList<>(), ws = new ArrayList<>();
            for (int round = 0; round < 4; round++) {
                double d = mbPerSecond(() -> {
                    Socket s = new Socket(ip, PORT);
                    return new Stream(s.getInputStream(), s.getOutputStream(), s);
                });
                URI pfUrl = portForwardUrl(bed, podId);
                double sp;
                try (PortForwardClient pf = PortForwardClient.connectSpdy(pfUrl)) {
                    sp = mbPerSecond(() -> {
                        PortForwardStream st = pf.open(PORT);
                        return new Stream(st.input(), st.output(), st);
                    });
                }
                URI wsUrl = portForwardUrl(bed, podId);
                double w = mbPerSecond(() -> {
                    PortForwardStream st = PortForwardClient.connectWebSocket(wsUrl, PORT).get(0);
                    return new Stream(st.input(), st.output(), st);
                });
                if (round > 0) { // the first round warms up
                    direct.add(d);
                    spdy.add(sp);
                    ws.add(w);
                }
            }
            System.out.printf("%n%d MB over HTTP from busybox httpd in the pod, 3 rounds, interleaved%n", SIZE / 1_000_000);
            System.out.printf("%-32s %9s%n", "", "MB/s p50");
            System.out.printf("%-32s %9.0f%n", "direct to the pod IP " + ip, ContainerBenchmark.pct(direct, 50));
            System.out.printf("%-32s %9.0f%n", "port-forward over SPDY", ContainerBenchmark.pct(spdy, 50));
            System.out.printf("%-32s %9.0f%n", "port-forward over WebSocket", ContainerBenchmark.pct(ws, 50));
            bed.removePod(podId);
        }
    }

    private record Stream(InputStream in, OutputStream out, AutoCloseable closer) {}

    private interface Opener {
        Stream open() throws Exception;
    }

    private static URI portForwardUrl(CriTestbed bed, String podId) {
        return URI.create(bed.runtime().portForward(PortForwardRequest.newBuilder().setPodSandboxId(podId).build())
                .getUrl());
    }

    /**
     * Downloads /big over a fresh connection; MB/s from the request to the last byte of the body
     * (not to the end of the stream: over WebSocket that comes a grace second after the pod closed).
     */
    private static double mbPerSecond(Opener opener) throws Exception {
        Stream s = opener.open();
        try {
            long t = System.nanoTime();
            s.out().write("GET /big HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            s.out().flush();
            byte[] buf = new byte[256 * 1024];
            long total = 0, header = -1;
            int r;
            String head = "";
            while ((header < 0 || total - header < SIZE) && (r = s.in().read(buf)) > 0) {
                if (header < 0) {
                    head += new String(buf, 0, Math.min(r, 4096), StandardCharsets.ISO_8859_1);
                    int end = head.indexOf("\r\n\r\n");
                    header = end < 0 ? -1 : end + 4;
                }
                total += r;
            }
            double seconds = (System.nanoTime() - t) / 1e9;
            if (header < 0 || total - header < SIZE) {
                throw new IOException("got " + total + " bytes, not a " + SIZE + "-byte body");
            }
            return SIZE / 1e6 / seconds;
        } finally {
            s.closer().close();
        }
    }
}
