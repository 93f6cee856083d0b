package io.coracle.runtime.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.coracle.cri.v1.IDMapping;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.cri.v1.UserNamespace;
import io.coracle.testing.CriTestbed;
import io.coracle.testing.ImageBuilder;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The user-namespaced pod requests of RuntimeHandlerUserNamespaceIT, sent to Debian's containerd 1.6
 * with its runc handler: it predates userns_options and ignores them, hostile ones included; the
 * pause then runs as the host's root (uid_map "0 0 4294967295"). Recorded, not compared: Coracle
 * runs the valid one in the pod's namespace and refuses the others (INVALID_ARGUMENT).
 */
class ContainerdUserNamespaceIT {
    static final long HOST = 1L << 30;
    static final String BRIDGE = "crdus" + Long.toHexString(ProcessHandle.current().pid() % 0xfffff);

    static IDMapping map(long c, long h, long l) {
        return IDMapping.newBuilder().setContainerId((int) c).setHostId((int) h).setLength((int) l).build();
    }

    @Test
    void debiansContainerdIgnoresUserNamespaceOptionsOnItsRuncHandler() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/containerd")), "Debian's containerd is installed");
        Path work = Files.createTempDirectory(Path.of("/tmp"), "coracle-ctrd-userns-");
        try (CriTestbed bed = CriTestbed.start()) {
            String reg = bed.registry.host();
            Path pauseBinary = Path.of(System.getProperty("coracle.dist"), "libexec", "coracle-pause");
            new ImageBuilder().hostProgram(pauseBinary.toString(), "pause").entrypoint("/pause")
                    .push(bed.registry, "userns/pause", "1");
            Files.createDirectories(work.resolve("containerd/cni"));
            Files.writeString(work.resolve("containerd/cni/10-bridge.conflist"), """
                    {"cniVersion":"0.4.0","name":"ctrd-userns","plugins":[{"type":"bridge","bridge":"%s",
                     "isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","dataDir":"%s",
                     "ranges":[[{"subnet":"10.237.%d.0/24"}]]}}]}""".formatted(BRIDGE, work.resolve("ipam"),
                    (int) (ProcessHandle.current().pid() % 250)));
            try (ContainerdProcess containerd = ContainerdProcess.start(work.resolve("containerd"), reg,
                    reg + "/userns/pause:1", "/coracle-ctrd-userns")) {
                containerd.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder()
                        .setImage(reg + "/userns/pause:1")).build());
                UserNamespace.Builder pod = UserNamespace.newBuilder().setMode(NamespaceMode.POD);
                Map<String, UserNamespace> requests = new LinkedHashMap<>();
                requests.put("POD, one mapping", pod.clone().addUids(map(0, HOST, 65536)).addGids(map(0, HOST, 65536)).build());
                requests.put("POD, length 0", pod.clone().addUids(map(0, HOST, 0)).addGids(map(0, HOST, 65536)).build());
                requests.put("POD, host id 0", pod.clone().addUids(map(0, 0, 65536)).addGids(map(0, HOST, 65536)).build());
                requests.put("TARGET", UserNamespace.newBuilder().setMode(NamespaceMode.TARGET).build());
                Map<String, String> seen = new LinkedHashMap<>();
                for (var r : requests.entrySet()) {
                    seen.put(r.getKey(), answer(containerd, r.getKey(), r.getValue()));
                }
                System.err.println("containerd 1.6, runc handler, userns_options: " + seen);
                for (String answer : seen.values()) {
                    assertEquals("ran; pause uid_map 0 0 4294967295", answer);
                }
            }
        } finally {
            new ProcessBuilder("ip", "link", "del", BRIDGE).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
            ContainerdProcess.unmountUnder(work);
            io.coracle.testing.DaemonProcess.deleteTree(work);
        }
    }

    private static String answer(ContainerdProcess containerd, String name, UserNamespace userns) throws Exception {
        LinuxPodSandboxConfig.Builder linux = LinuxPodSandboxConfig.newBuilder().setCgroupParent(containerd.cgroupParent)
                .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(
                        NamespaceOption.newBuilder().setUsernsOptions(userns)));
        PodSandboxConfig config = PodSandboxConfig.newBuilder().setMetadata(PodSandboxMetadata.newBuilder()
                .setName(name.replaceAll("[^a-zA-Z0-9]+", "-").toLowerCase()).setNamespace("userns")
                .setUid(Long.toHexString(System.nanoTime()))).setHostname("userns").setLinux(linux).build();
        String id;
        try {
            id = containerd.runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config)
                    .setRuntimeHandler("runc").build()).getPodSandboxId();
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode() + ": " + e.getStatus().getDescription();
        }
        try {
            String info = containerd.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(id)
                    .setVerbose(true).build()).getInfoMap().get("info");
            long pid = new ObjectMapper().readTree(info).path("pid").asLong();
            return "ran; pause uid_map " + Files.readString(Path.of("/proc/" + pid + "/uid_map")).strip().replaceAll("\\s+", " ");
        } finally {
            containerd.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
            containerd.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        }
    }
}
