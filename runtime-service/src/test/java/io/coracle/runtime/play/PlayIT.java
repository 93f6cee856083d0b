package io.coracle.runtime.play;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerFilter;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.DaemonProcess;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code coracle play} as a user runs it: a Pod manifest in, a running pod out, and --down removes it. */
class PlayIT {
    static CriTestbed bed;

    @BeforeAll
    static void start() throws Exception {
        bed = CriTestbed.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (bed != null) {
            bed.close();
        }
    }

    /** Runs the CLI; returns {exit code, stdout, stderr}. */
    private static String[] play(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(DaemonProcess.javaCommand());
        cmd.add("play");
        cmd.addAll(List.of("--socket", bed.daemon.socket().toString()));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile("coracle-play", ".out");
        Path err = Files.createTempFile("coracle-play", ".err");
        try {
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "play did not finish");
            return new String[] {Integer.toString(p.exitValue()), Files.readString(out), Files.readString(err)};
        } finally {
            Files.delete(out);
            Files.delete(err);
        }
    }

    private static String exec(String containerId, String... cmd) {
        return bed.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(containerId)
                .addAllCmd(List.of(cmd)).setTimeout(10).build()).getStdout().toStringUtf8();
    }

    @Test
    void aPodManifestRunsWithVolumesEnvPortsAndDnsAndComesDownAgain() throws Exception {
        int hostPort;
        try (ServerSocket s = new ServerSocket(0)) {
            hostPort = s.getLocalPort();
        }
        Path hostDir = Files.createTempDirectory("coracle-play-host-");
        Path manifest = Files.writeString(hostDir.resolveSibling(hostDir.getFileName() + ".yaml"), """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: web
                  namespace: play
                  labels: {app: web}
                spec:
                  hostname: webhost
                  dnsConfig:
                    nameservers: [10.0.0.10]
                    searches: [play.svc.cluster.local]
                    options: [{name: ndots, value: "2"}]
                  volumes:
                  - name: shared
                    emptyDir: {}
                  - name: host
                    hostPath: {path: %s, type: DirectoryOrCreate}
                  containers:
                  - name: writer
                    image: busybox
                    command: [sh, -c, 'echo $GREETING > /shared/msg; echo from-host-mount > /host/out; exec httpd -f -p 8080 -h /shared']
                    env: [{name: GREETING, value: hello-play}]
                    ports: [{containerPort: 8080, hostPort: %d, hostIP: 127.0.0.1}]
                    volumeMounts: [{name: shared, mountPath: /shared}, {name: host, mountPath: /host}]
                    resources: {limits: {memory: 64Mi, cpu: 500m}, requests: {cpu: 250m}}
                    livenessProbe: {exec: {command: ["true"]}}
                  - name: reader
                    image: busybox
                    command: [sleep, "300"]
                    volumeMounts: [{name: shared, mountPath: /data, readOnly: true}]
                """.formatted(hostDir.resolve("sub"), hostPort));
        try {
            String[] up = play(manifest.toString());
            assertEquals("0", up[0], up[1] + up[2]);
            assertTrue(up[1].contains("pod play/web: sandbox "), up[1]);
            assertTrue(up[1].matches("(?s).*IP 10\\.\\d+\\.\\d+\\.\\d+.*"), up[1]);
            assertTrue(up[1].contains("container writer: running"), up[1]);
            assertTrue(up[1].contains("container reader: running"), up[1]);
            assertTrue(up[2].contains("spec.containers[0].livenessProbe is not supported"), up[2]);

            var containers = bed.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(
                    ContainerFilter.newBuilder().putLabelSelector("io.kubernetes.pod.name", "web")).build())
                    .getContainersList();
            String reader = containers.stream().filter(c -> c.getMetadata().getName().equals("reader")).findFirst()
                    .orElseThrow().getId();
            String writer = containers.stream().filter(c -> c.getMetadata().getName().equals("writer")).findFirst()
                    .orElseThrow().getId();
            String msg = "";
            for (int i = 0; i < 100 && msg.isEmpty(); i++) {
                msg = exec(reader, "cat", "/data/msg");
                Thread.sleep(50);
            }
            assertEquals("hello-play\n", msg);
            assertEquals("from-host-mount\n", Files.readString(hostDir.resolve("sub/out")));
            String resolv = exec(reader, "cat", "/etc/resolv.conf");
            assertTrue(resolv.contains("nameserver 10.0.0.10") && resolv.contains("search play.svc.cluster.local")
                    && resolv.contains("ndots:2"), resolv);
            assertEquals("webhost\n", exec(reader, "hostname"));
            assertEquals(64L << 20, bed.status(writer).getResources().getLinux().getMemoryLimitInBytes());
            assertEquals(50000, bed.status(writer).getResources().getLinux().getCpuQuota());
            HttpResponse<String> http = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + hostPort + "/msg")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals("hello-play\n", http.body());

            String[] again = play(manifest.toString());
            assertEquals("1", again[0]);
            assertTrue(again[2].contains("already running"), again[2]);
        } finally {
            String[] down = play("--down", manifest.toString());
            assertEquals("0", down[0], down[1] + down[2]);
            assertTrue(down[1].contains("pod play/web removed"), down[1]);
            assertEquals(0, bed.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
            Files.delete(manifest);
            DaemonProcess.deleteTree(hostDir);
        }
        assertFalse(Files.exists(bed.daemon.dir().resolve("root/play-volumes")) && Files.list(
                bed.daemon.dir().resolve("root/play-volumes")).findAny().isPresent(), "emptyDir left behind");
    }

    @Test
    void badManifestsAreRefusedNamingTheField() throws Exception {
        Path dir = Files.createTempDirectory("coracle-play-bad-");
        try {
            Path deployment = Files.writeString(dir.resolve("d.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n");
            String[] r = play(deployment.toString());
            assertEquals("2", r[0]);
            assertTrue(r[2].contains("kind is 'Deployment'"), r[2]);

            Path badMount = Files.writeString(dir.resolve("m.yaml"), """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: x}
                    spec:
                      containers:
                      - {name: c, image: busybox, volumeMounts: [{name: nope, mountPath: /x}]}
                    """);
            r = play(badMount.toString());
            assertEquals("2", r[0]);
            assertTrue(r[2].contains("spec.containers[0].volumeMounts[0].name 'nope' names no volume"), r[2]);

            r = play(dir.resolve("missing.yaml").toString());
            assertEquals("2", r[0]);
            assertTrue(r[2].contains("no such file"), r[2]);
        } finally {
            DaemonProcess.deleteTree(dir);
        }
    }
}
