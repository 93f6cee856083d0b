package io.coracle.sandbox;

import static io.coracle.sandbox.PodFixture.exec;
import static io.coracle.sandbox.PodFixture.sh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.PodSandboxState;
import io.coracle.cri.v1.PodSandboxStatus;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PortMapping;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Pods on a real bridge network through the real CNI plugins. */
class SandboxNetworkTest {
    private PodFixture f;

    @BeforeEach
    void setUp() throws Exception {
        f = new PodFixture();
    }

    @AfterEach
    void tearDown() throws Exception {
        f.close();
    }

    private PodSandboxStatus status(String id) {
        return f.service.status(PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).build()).getStatus();
    }

    /** busybox httpd serving "hello from NAME" on :8080 inside the pod's network namespace. */
    private Process serve(Sandbox s) throws Exception {
        Path www = f.tmp.resolve("www-" + s.name());
        Files.createDirectories(www);
        Files.writeString(www.resolve("index.html"), "hello from " + s.name() + "\n");
        return new ProcessBuilder("nsenter", "--net=" + s.netnsPath(), "busybox", "httpd", "-f", "-p", "8080", "-h", www.toString())
                .redirectErrorStream(true).redirectOutput(f.tmp.resolve("httpd-" + s.name() + ".log").toFile()).start();
    }

    /** wget with retries (the server may still be starting); netns null means the host. */
    private static String fetch(Path netns, String url) throws Exception {
        PodFixture.Result last = null;
        for (int i = 0; i < 50; i++) {
            last = netns == null ? exec(5, "busybox", "wget", "-q", "-O", "-", url)
                    : exec(5, "nsenter", "--net=" + netns, "busybox", "wget", "-q", "-O", "-", url);
            if (last.code() == 0) {
                return last.out();
            }
            Thread.sleep(100);
        }
        throw new AssertionError("wget " + url + " failed: " + last.out());
    }

    @Test
    void twoPodsGetDistinctIpsOnTheBridgeAndReachEachOther() throws Exception {
        String a = f.run(f.podWithParent("web-a"));
        String b = f.run(f.podWithParent("web-b"));
        PodSandboxStatus sa = status(a), sb = status(b);
        assertEquals(PodSandboxState.SANDBOX_READY, sa.getState());
        assertTrue(sa.getNetwork().getIp().startsWith(f.subnetPrefix), sa.getNetwork().getIp());
        assertTrue(sb.getNetwork().getIp().startsWith(f.subnetPrefix), sb.getNetwork().getIp());
        assertNotEquals(sa.getNetwork().getIp(), sb.getNetwork().getIp());
        // lo is up in the pod, eth0 carries the pod IP.
        String links = sh("nsenter", "--net=" + f.get(a).netnsPath(), "ip", "-o", "addr");
        assertTrue(links.contains("lo") && links.contains("127.0.0.1"), links);
        assertTrue(links.contains("eth0") && links.contains(sa.getNetwork().getIp() + "/24"), links);
        assertTrue(sh("nsenter", "--net=" + f.get(a).netnsPath(), "ip", "-o", "link", "show", "lo").contains("UP"));

        Process server = serve(f.get(a));
        try {
            assertEquals("hello from web-a\n", fetch(f.get(b).netnsPath(), "http://" + sa.getNetwork().getIp() + ":8080/index.html"));
        } finally {
            server.destroy();
            server.waitFor();
        }
        Sandbox before = f.get(a);
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(a).build());
        f.service.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(a).build());
        assertEquals(List.of(), f.traces(before));
        assertTrue(f.service.store().get(a).isEmpty());
    }

    @Test
    void podsRunAndGoAwayConcurrently() throws Exception {
        int n = 6;
        List<java.util.concurrent.Future<String>> runs = new java.util.ArrayList<>();
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < n; i++) {
                String name = "par-" + i;
                runs.add(pool.submit(() -> f.run(f.podWithParent(name))));
            }
        }
        List<Sandbox> pods = new java.util.ArrayList<>();
        for (var r : runs) {
            pods.add(f.get(r.get()));
        }
        assertEquals(n, pods.stream().map(Sandbox::ip).distinct().count(), "distinct IPs");
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (Sandbox s : pods) {
                pool.submit(() -> f.service.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.id()).build()));
            }
        }
        for (Sandbox s : pods) {
            assertEquals(List.of(), f.traces(s));
        }
        // The shared parent may stay (another pod may have created it); no pod cgroup is left under it.
        Path root = Path.of("/sys/fs/cgroup/pids", f.cgroupRoot);
        if (Files.exists(root)) {
            try (var children = Files.list(root)) {
                assertEquals(List.of(), children.filter(Files::isDirectory).toList());
            }
        }
    }

    @Test
    void hostPortOnLocalhostReachesThePod() throws Exception {
        int port = ThreadLocalRandom.current().nextInt(20000, 30000);
        String id = f.run(f.podWithParent("hostport").addPortMappings(
                PortMapping.newBuilder().setContainerPort(8080).setHostPort(port).setHostIp("127.0.0.1")));
        Sandbox s = f.get(id);
        Process server = serve(s);
        try {
            assertEquals("hello from hostport\n", fetch(null, "http://127.0.0.1:" + port + "/index.html"));
        } finally {
            server.destroy();
            server.waitFor();
        }
        assertTrue(sh("iptables-save").contains(id), "portmap rules name the pod");
        f.service.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertEquals(List.of(), f.traces(s));
    }

    private static java.util.Set<String> links(String ipOLink) {
        return ipOLink.replaceAll("\\\\.*", "").lines().map(l -> l.split(":")[1].trim())
                .collect(java.util.stream.Collectors.toCollection(java.util.TreeSet::new));
    }

    @Test
    void hostNetworkPodSeesTheHostInterfaces() throws Exception {
        String id = f.run(PodFixture.namespaces(f.podWithParent("hostnet"), NamespaceMode.NODE, NamespaceMode.POD, NamespaceMode.POD));
        Sandbox s = f.get(id);
        assertTrue(s.hostNetwork());
        assertEquals(null, s.netnsPath());
        assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/net")), Files.readSymbolicLink(Path.of("/proc/" + s.pausePid() + "/ns/net")));
        assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/uts")), Files.readSymbolicLink(Path.of("/proc/" + s.pausePid() + "/ns/uts")));
        // Other processes on the host add and remove veths meanwhile: what the host had both before and
        // after, the pod sees; what the pod sees, the host had at one of the two reads.
        java.util.Set<String> before = links(sh("ip", "-o", "link"));
        java.util.Set<String> pod = links(sh("nsenter", "-t", String.valueOf(s.pausePid()), "-n", "ip", "-o", "link"));
        java.util.Set<String> after = links(sh("ip", "-o", "link"));
        java.util.Set<String> both = new java.util.TreeSet<>(before), either = new java.util.TreeSet<>(before);
        both.retainAll(after);
        either.addAll(after);
        assertTrue(pod.containsAll(both) && either.containsAll(pod) && pod.contains("lo"), "pod " + pod + ", host " + before + " then " + after);
        PodSandboxStatus st = status(id);
        assertEquals(NamespaceMode.NODE, st.getLinux().getNamespaces().getOptions().getNetwork());
        assertEquals("", st.getNetwork().getIp());
        f.service.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertEquals(List.of(), f.traces(s));
    }

    @Test
    void stopAfterThePauseProcessDiedStillDeletesTheNetwork() throws Exception {
        String id = f.run(f.podWithParent("dies"));
        Sandbox s = f.get(id);
        sh("kill", "-9", String.valueOf(s.pausePid()));
        for (int i = 0; i < 200 && s.pause().alive(); i++) {
            Thread.sleep(5);
        }
        assertEquals(PodSandboxState.SANDBOX_NOTREADY, status(id).getState());
        assertTrue(Files.exists(s.netnsPath()), "netns stays mounted until DEL");
        assertFalse(sh("ip", "-o", "link", "show", "master", f.bridge).isBlank(), "veth still there before DEL");
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertTrue(sh("ip", "-o", "link", "show", "master", f.bridge).isBlank(), "veth gone after DEL");
        assertFalse(Files.exists(s.netnsPath()));
        f.service.stop(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build()); // idempotent
        f.service.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertEquals(List.of(), f.traces(s));
    }
}
