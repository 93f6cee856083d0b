package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.coracle.image.registry.Credentials;
import io.coracle.image.registry.RegistryClient;
import io.coracle.image.registry.RegistryEndpoint;
import io.coracle.image.registry.RegistryTls;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import io.coracle.testing.TestPki;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One hosts directory, two runtimes: Debian's containerd (on a private root, state and socket, pulled with
 * {@code ctr content fetch --hosts-dir}) and Coracle resolve the same references to the same digests, and
 * fail the same ones.
 */
class ContainerdParityTest {
    @TempDir
    Path tmp;
    final List<AutoCloseable> closing = new ArrayList<>();
    Process containerd;
    Path socket;
    final List<String> ctrErrors = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        if (containerd != null) {
            containerd.toHandle().destroy();
            if (!containerd.waitFor(15, TimeUnit.SECONDS)) {
                containerd.toHandle().destroyForcibly();
                containerd.waitFor();
            }
        }
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
    }

    <T extends AutoCloseable> T closeLater(T c) {
        closing.add(c);
        return c;
    }

    @Test
    void containerdAndCoracleResolveTheSameDirectoryTheSameWay() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/containerd")) && Files.isExecutable(Path.of("/usr/bin/ctr")), "containerd installed");
        TestPki pki = TestPki.create(tmp.resolve("pki"), "parity");
        TestPki clients = TestPki.create(tmp.resolve("pki-clients"), "parity-clients");
        TestPki.Issued server = pki.server("registry", "127.0.0.1");
        LocalRegistry mirror = closeLater(LocalRegistry.startTls(tmp.resolve("mirror"), false, server.cert(), server.key(), null));
        LocalRegistry mtls = closeLater(LocalRegistry.startTls(tmp.resolve("mtls"), false, server.cert(), server.key(),
                List.of(clients.caCert())));
        Path[] selfSigned = LocalRegistry.selfSignedCert(tmp.resolve("lab"), "lab");
        LocalRegistry lab = closeLater(LocalRegistry.start(tmp.resolve("lab-registry"), false, selfSigned[0], selfSigned[1]));
        TestPki.Issued node = clients.client("node", TestPki.KeyForm.SEC1_EC);
        var ca = RegistryClient.sslContextFor(pki.caCert());
        TestImage pause = SignaturePolicyTest.image("pause");
        TestImage app = SignaturePolicyTest.image("app");
        TestImage tool = SignaturePolicyTest.image("tool");
        pause.push(new RegistryPusher(URI.create("https://" + mirror.host())).trusting(ca), "pause", "3.10");
        app.push(new RegistryPusher(URI.create("https://" + mtls.host())).trusting(RegistryTls.contextFor(new RegistryEndpoint.Tls(
                List.of(pki.caCert()), List.of(new RegistryEndpoint.ClientCert(node.cert(), node.key())), false), "pusher")), "team/app", "1");
        tool.push(new RegistryPusher(URI.create("https://" + lab.host())).trusting(RegistryClient.sslContextFor(selfSigned[0])), "lab/tool", "1");
        int dead = LocalRegistry.freePort();

        Path hosts = tmp.resolve("certs.d");
        Files.createDirectories(hosts.resolve("registry.k8s.io"));
        Files.copy(pki.caCert(), hosts.resolve("registry.k8s.io/ca.pem"));
        Files.writeString(hosts.resolve("registry.k8s.io/hosts.toml"), """
                server = "https://127.0.0.1:%d"
                [host."https://%s"]
                  capabilities = ["pull", "resolve"]
                  ca = "ca.pem"
                """.formatted(dead, mirror.host()));
        // quay.example: the same mirror without its CA: both must refuse it (the server is down).
        Files.createDirectories(hosts.resolve("quay.example"));
        Files.writeString(hosts.resolve("quay.example/hosts.toml"), """
                server = "https://127.0.0.1:%d"
                [host."https://%s"]
                  capabilities = ["pull", "resolve"]
                """.formatted(dead, mirror.host()));
        // Debian 12's containerd 1.6 refuses a hosts.toml without a [host] table ("invalid `host` tree"; later
        // versions accept a server alone, as Coracle does), so these name their host in a table.
        Files.createDirectories(hosts.resolve(mtls.host()));
        Files.writeString(hosts.resolve(mtls.host()).resolve("hosts.toml"), """
                server = "https://127.0.0.1:%d"
                [host."https://%s"]
                  capabilities = ["pull", "resolve"]
                  ca = "%s"
                  client = [["%s", "%s"]]
                """.formatted(dead, mtls.host(), pki.caCert(), node.cert(), node.key()));
        Files.createDirectories(hosts.resolve(lab.host().replace(":", "_") + "_"));
        Files.writeString(hosts.resolve(lab.host().replace(":", "_") + "_").resolve("hosts.toml"), """
                server = "https://127.0.0.1:%d"
                [host."https://%s"]
                  capabilities = ["pull", "resolve"]
                  skip_verify = true
                """.formatted(dead, lab.host()));

        Map<String, String> refs = new LinkedHashMap<>();
        refs.put("registry.k8s.io/pause:3.10", pause.manifestDigest().toString());
        refs.put("quay.example/pause:3.10", "refused");
        refs.put(mtls.host() + "/team/app:1", app.manifestDigest().toString());
        refs.put(lab.host() + "/lab/tool:1", tool.manifestDigest().toString());

        startContainerd(hosts);
        Map<String, String> coracle = new LinkedHashMap<>();
        Map<String, String> viaContainerd = new LinkedHashMap<>();
        try (ImageService s = new ImageService(ImageServiceConfig.defaults(tmp.resolve("root")).withPlatform("linux/amd64")
                .withHostsDir(hosts).withMaxRetries(0).withRequestTimeout(Duration.ofSeconds(10)))) {
            for (String ref : refs.keySet()) {
                try {
                    String d = s.pull(ref, Credentials.ANONYMOUS).repoDigests().getFirst();
                    coracle.put(ref, d.substring(d.indexOf('@') + 1));
                } catch (ImageException e) {
                    coracle.put(ref, "refused");
                }
                viaContainerd.put(ref, ctrFetch(hosts, ref));
            }
        }
        assertEquals(refs, viaContainerd, "containerd's results; ctr said: " + ctrErrors);
        assertEquals(viaContainerd, coracle, "Coracle's results, with the same directory");
    }

    void startContainerd(Path hosts) throws Exception {
        Path d = Files.createDirectories(tmp.resolve("containerd"));
        socket = d.resolve("containerd.sock");
        Path config = Files.writeString(d.resolve("config.toml"), """
                version = 2
                root = "%1$s/root"
                state = "%1$s/state"
                disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp",
                  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
                  "io.containerd.snapshotter.v1.zfs"]
                [grpc]
                  address = "%1$s/containerd.sock"
                [ttrpc]
                  address = "%1$s/containerd.sock.ttrpc"
                [debug]
                  address = "%1$s/debug.sock"
                [metrics]
                  address = ""
                [plugins."io.containerd.grpc.v1.cri".registry]
                  config_path = "%2$s"
                """.formatted(d, hosts));
        containerd = new ProcessBuilder("/usr/bin/containerd", "--config", config.toString()).redirectErrorStream(true)
                .redirectOutput(d.resolve("containerd.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(socket)) {
            if (!containerd.isAlive() || System.nanoTime() > deadline) {
                throw new IllegalStateException("containerd did not start: " + Files.readString(d.resolve("containerd.log")));
            }
            Thread.sleep(50);
        }
    }

    /** The manifest digest containerd resolved {@code ref} to, or "refused". */
    String ctrFetch(Path hosts, String ref) throws Exception {
        Process p = new ProcessBuilder("/usr/bin/ctr", "-a", socket.toString(), "-n", "parity", "content", "fetch",
                "--hosts-dir", hosts.toString(), ref).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("ctr content fetch " + ref + " hung");
        }
        if (p.exitValue() != 0) {
            ctrErrors.add(ref + ": " + out.lines().filter(l -> l.contains("ctr:") || l.contains("error")).toList());
            return "refused";
        }
        Process ls = new ProcessBuilder("/usr/bin/ctr", "-a", socket.toString(), "-n", "parity", "images", "ls").redirectErrorStream(true).start();
        String list = new String(ls.getInputStream().readAllBytes());
        ls.waitFor();
        for (String line : list.lines().toList()) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 2 && f[0].equals(ref)) {
                return f[2];
            }
        }
        throw new IllegalStateException("ctr fetched " + ref + " but lists no such image: " + out + "\n" + list);
    }
}
