package io.coracle.runtime.play;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import io.coracle.cri.v1.Capability;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerMetadata;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.DNSConfig;
import io.coracle.cri.v1.ImageServiceGrpc;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.ImageStatusRequest;
import io.coracle.cri.v1.Int64Value;
import io.coracle.cri.v1.KeyValue;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerResources;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.LinuxSandboxSecurityContext;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.Mount;
import io.coracle.cri.v1.MountPropagation;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandbox;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxFilter;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.PortMapping;
import io.coracle.cri.v1.Protocol;
import io.coracle.cri.v1.PullImageRequest;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.io.IOException;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Runs a Pod manifest through Coracle's own CRI services, as the kubelet would: pulls the images,
 * runs the sandbox (DNS, host namespaces, ports, security context), creates and starts the
 * containers (command, args, env, hostPath and emptyDir volumes, resources), and removes it all again.
 */
public final class PodPlayer {
    static final String POD_NAME = "io.kubernetes.pod.name";
    static final String POD_NAMESPACE = "io.kubernetes.pod.namespace";
    static final String POD_UID = "io.kubernetes.pod.uid";
    static final String CONTAINER_NAME = "io.kubernetes.container.name";

    private final RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime;
    private final ImageServiceGrpc.ImageServiceBlockingStub images;
    private final PrintStream out;

    public PodPlayer(RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime,
                     ImageServiceGrpc.ImageServiceBlockingStub images, PrintStream out) {
        this.runtime = runtime;
        this.images = images;
        this.out = out;
    }

    /** Starts the pod; returns its sandbox ID. A pod of that name and namespace already there is an error. */
    public String up(Pod pod) throws IOException {
        String name = pod.getMetadata().getName();
        String namespace = namespace(pod);
        if (!find(name, namespace).isEmpty()) {
            throw new IOException("pod " + namespace + "/" + name + " is already running: play --down it first");
        }
        PodSpec spec = pod.getSpec();
        String uid = pod.getMetadata().getUid() != null ? pod.getMetadata().getUid()
                : UUID.nameUUIDFromBytes((namespace + "/" + name).getBytes(StandardCharsets.UTF_8)).toString();
        Map<String, String> labels = new HashMap<>(pod.getMetadata().getLabels() == null ? Map.of()
                : pod.getMetadata().getLabels());
        labels.put(POD_NAME, name);
        labels.put(POD_NAMESPACE, namespace);
        labels.put(POD_UID, uid);

        PodSandboxConfig.Builder sandbox = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace(namespace).setUid(uid))
                .setHostname(spec.getHostname() != null ? spec.getHostname() : name)
                .setLogDirectory("/var/log/pods/" + namespace + "_" + name + "_" + uid)
                .putAllLabels(labels)
                .putAllAnnotations(pod.getMetadata().getAnnotations() == null ? Map.of() : pod.getMetadata().getAnnotations());
        if (spec.getDnsConfig() != null) {
            DNSConfig.Builder dns = DNSConfig.newBuilder();
            if (spec.getDnsConfig().getNameservers() != null) {
                dns.addAllServers(spec.getDnsConfig().getNameservers());
            }
            if (spec.getDnsConfig().getSearches() != null) {
                dns.addAllSearches(spec.getDnsConfig().getSearches());
            }
            if (spec.getDnsConfig().getOptions() != null) {
                spec.getDnsConfig().getOptions().forEach(o -> dns.addOptions(
                        o.getValue() == null ? o.getName() : o.getName() + ":" + o.getValue()));
            }
            sandbox.setDnsConfig(dns);
        }
        for (Container c : spec.getContainers()) {
            for (ContainerPort p : c.getPorts() == null ? List.<ContainerPort>of() : c.getPorts()) {
                if (p.getHostPort() != null && p.getHostPort() > 0) {
                    sandbox.addPortMappings(PortMapping.newBuilder()
                            .setProtocol(protocol(p.getProtocol()))
                            .setContainerPort(p.getContainerPort())
                            .setHostPort(p.getHostPort())
                            .setHostIp(p.getHostIP() == null ? "" : p.getHostIP()));
                }
            }
        }
        NamespaceOption.Builder podNamespaces = NamespaceOption.newBuilder()
                .setNetwork(Boolean.TRUE.equals(spec.getHostNetwork()) ? NamespaceMode.NODE : NamespaceMode.POD)
                .setPid(Boolean.TRUE.equals(spec.getHostPID()) ? NamespaceMode.NODE : NamespaceMode.CONTAINER)
                .setIpc(Boolean.TRUE.equals(spec.getHostIPC()) ? NamespaceMode.NODE : NamespaceMode.POD);
        LinuxSandboxSecurityContext.Builder podSecurity = LinuxSandboxSecurityContext.newBuilder()
                .setNamespaceOptions(podNamespaces);
        LinuxPodSandboxConfig.Builder linux = LinuxPodSandboxConfig.newBuilder();
        var psc = spec.getSecurityContext();
        if (psc != null) {
            if (psc.getRunAsUser() != null) {
                podSecurity.setRunAsUser(Int64Value.newBuilder().setValue(psc.getRunAsUser()));
            }
            if (psc.getRunAsGroup() != null) {
                podSecurity.setRunAsGroup(Int64Value.newBuilder().setValue(psc.getRunAsGroup()));
            }
            if (psc.getSupplementalGroups() != null) {
                podSecurity.addAllSupplementalGroups(psc.getSupplementalGroups());
            }
            if (psc.getSysctls() != null) {
                psc.getSysctls().forEach(s -> linux.putSysctls(s.getName(), s.getValue()));
            }
        }
        sandbox.setLinux(linux.setSecurityContext(podSecurity));
        PodSandboxConfig sandboxConfig = sandbox.build();

        for (Container c : spec.getContainers()) {
            pull(c);
        }
        String podId = runtime.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(sandboxConfig).build())
                .getPodSandboxId();
        try {
            Path emptyDirs = emptyDirRoot(uid);
            for (Container c : spec.getContainers()) {
                String id = runtime.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId)
                        .setSandboxConfig(sandboxConfig).setConfig(container(pod, c, psc, emptyDirs)).build())
                        .getContainerId();
                runtime.startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
            }
        } catch (RuntimeException | IOException e) {
            remove(podId, uid);
            throw e;
        }
        report(podId);
        return podId;
    }

    /** Stops and removes the pod of the manifest, and its emptyDir volumes; a pod that is not there is fine. */
    public void down(Pod pod) throws IOException {
        List<PodSandbox> pods = find(pod.getMetadata().getName(), namespace(pod));
        if (pods.isEmpty()) {
            out.println("pod " + namespace(pod) + "/" + pod.getMetadata().getName() + " is not running");
        }
        for (PodSandbox p : pods) {
            remove(p.getId(), p.getLabelsMap().getOrDefault(POD_UID, ""));
            out.println("pod " + namespace(pod) + "/" + pod.getMetadata().getName() + " removed (sandbox " + p.getId() + ")");
        }
    }

    private void remove(String podId, String uid) throws IOException {
        runtime.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        runtime.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        if (!uid.isEmpty()) {
            io.coracle.sys.FileTrees.delete(emptyDirRoot(uid));
        }
    }

    private ContainerConfig container(Pod pod, Container c, io.fabric8.kubernetes.api.model.PodSecurityContext psc,
                                      Path emptyDirs) throws IOException {
        ContainerConfig.Builder b = ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(c.getName()))
                .setImage(ImageSpec.newBuilder().setImage(c.getImage()))
                .setLogPath(c.getName() + "/0.log")
                .setTty(Boolean.TRUE.equals(c.getTty()))
                .setStdin(Boolean.TRUE.equals(c.getStdin()))
                .setStdinOnce(Boolean.TRUE.equals(c.getStdinOnce()))
                .putLabels(CONTAINER_NAME, c.getName())
                .putLabels(POD_NAME, pod.getMetadata().getName())
                .putLabels(POD_NAMESPACE, namespace(pod));
        if (c.getCommand() != null) {
            b.addAllCommand(c.getCommand());
        }
        if (c.getArgs() != null) {
            b.addAllArgs(c.getArgs());
        }
        if (c.getWorkingDir() != null) {
            b.setWorkingDir(c.getWorkingDir());
        }
        for (EnvVar e : c.getEnv() == null ? List.<EnvVar>of() : c.getEnv()) {
            b.addEnvs(KeyValue.newBuilder().setKey(e.getName())
                    .setValue(ByteString.copyFromUtf8(e.getValue() == null ? "" : e.getValue())));
        }
        Map<String, Volume> volumes = new HashMap<>();
        if (pod.getSpec().getVolumes() != null) {
            pod.getSpec().getVolumes().forEach(v -> volumes.put(v.getName(), v));
        }
        for (VolumeMount m : c.getVolumeMounts() == null ? List.<VolumeMount>of() : c.getVolumeMounts()) {
            Volume v = volumes.get(m.getName());
            Path host;
            if (v.getHostPath() != null) {
                host = Path.of(v.getHostPath().getPath());
                String type = v.getHostPath().getType() == null ? "" : v.getHostPath().getType();
                if (type.equals("DirectoryOrCreate")) {
                    Files.createDirectories(host);
                } else if (type.equals("FileOrCreate") && !Files.exists(host)) {
                    Files.createDirectories(host.getParent());
                    Files.createFile(host);
                }
            } else {
                host = Files.createDirectories(emptyDirs.resolve(v.getName()));
            }
            b.addMounts(Mount.newBuilder().setContainerPath(m.getMountPath()).setHostPath(host.toString())
                    .setReadonly(Boolean.TRUE.equals(m.getReadOnly()))
                    .setPropagation(switch (m.getMountPropagation() == null ? "None" : m.getMountPropagation()) {
                        case "HostToContainer" -> MountPropagation.PROPAGATION_HOST_TO_CONTAINER;
                        case "Bidirectional" -> MountPropagation.PROPAGATION_BIDIRECTIONAL;
                        default -> MountPropagation.PROPAGATION_PRIVATE;
                    }));
        }
        LinuxContainerResources.Builder resources = LinuxContainerResources.newBuilder();
        if (c.getResources() != null) {
            Map<String, Quantity> limits = c.getResources().getLimits() == null ? Map.of() : c.getResources().getLimits();
            Map<String, Quantity> requests = c.getResources().getRequests() == null ? Map.of() : c.getResources().getRequests();
            if (limits.containsKey("cpu")) {
                resources.setCpuPeriod(100_000).setCpuQuota(cpu(limits.get("cpu")).multiply(BigDecimal.valueOf(100_000)).longValue());
            }
            if (requests.containsKey("cpu")) {
                resources.setCpuShares(Math.max(2, cpu(requests.get("cpu")).multiply(BigDecimal.valueOf(1024)).longValue()));
            }
            if (limits.containsKey("memory")) {
                resources.setMemoryLimitInBytes(Quantity.getAmountInBytes(limits.get("memory")).longValue());
            }
        }
        LinuxContainerSecurityContext.Builder security = LinuxContainerSecurityContext.newBuilder()
                .setNamespaceOptions(NamespaceOption.newBuilder()
                        .setNetwork(Boolean.TRUE.equals(pod.getSpec().getHostNetwork()) ? NamespaceMode.NODE : NamespaceMode.POD)
                        .setPid(Boolean.TRUE.equals(pod.getSpec().getHostPID()) ? NamespaceMode.NODE : NamespaceMode.CONTAINER)
                        .setIpc(Boolean.TRUE.equals(pod.getSpec().getHostIPC()) ? NamespaceMode.NODE : NamespaceMode.POD));
        if (psc != null) {
            if (psc.getRunAsUser() != null) {
                security.setRunAsUser(Int64Value.newBuilder().setValue(psc.getRunAsUser()));
            }
            if (psc.getRunAsGroup() != null) {
                security.setRunAsGroup(Int64Value.newBuilder().setValue(psc.getRunAsGroup()));
            }
            if (psc.getSupplementalGroups() != null) {
                security.addAllSupplementalGroups(psc.getSupplementalGroups());
            }
        }
        SecurityContext sc = c.getSecurityContext();
        if (sc != null) {
            security.setPrivileged(Boolean.TRUE.equals(sc.getPrivileged()))
                    .setReadonlyRootfs(Boolean.TRUE.equals(sc.getReadOnlyRootFilesystem()))
                    .setNoNewPrivs(Boolean.FALSE.equals(sc.getAllowPrivilegeEscalation()));
            if (sc.getRunAsUser() != null) {
                security.setRunAsUser(Int64Value.newBuilder().setValue(sc.getRunAsUser()));
            }
            if (sc.getRunAsGroup() != null) {
                security.setRunAsGroup(Int64Value.newBuilder().setValue(sc.getRunAsGroup()));
            }
            if (sc.getCapabilities() != null) {
                Capability.Builder caps = Capability.newBuilder();
                if (sc.getCapabilities().getAdd() != null) {
                    caps.addAllAddCapabilities(sc.getCapabilities().getAdd());
                }
                if (sc.getCapabilities().getDrop() != null) {
                    caps.addAllDropCapabilities(sc.getCapabilities().getDrop());
                }
                security.setCapabilities(caps);
            }
        }
        return b.setLinux(LinuxContainerConfig.newBuilder().setResources(resources).setSecurityContext(security)).build();
    }

    private void pull(Container c) {
        String policy = c.getImagePullPolicy() == null ? "IfNotPresent" : c.getImagePullPolicy();
        ImageSpec image = ImageSpec.newBuilder().setImage(c.getImage()).build();
        boolean present = images.imageStatus(ImageStatusRequest.newBuilder().setImage(image).build()).hasImage();
        if (policy.equals("Always") || !present && !policy.equals("Never")) {
            out.println("pulling " + c.getImage());
            images.pullImage(PullImageRequest.newBuilder().setImage(image).build());
        } else if (!present) {
            throw new IllegalStateException("image " + c.getImage() + " is not present and imagePullPolicy is Never");
        }
    }

    private void report(String podId) {
        var status = runtime.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).build())
                .getStatus();
        out.println("pod " + status.getMetadata().getNamespace() + "/" + status.getMetadata().getName()
                + ": sandbox " + podId + ", IP " + (status.getNetwork().getIp().isEmpty() ? "(host network)"
                : status.getNetwork().getIp()));
        for (var c : runtime.listContainers(io.coracle.cri.v1.ListContainersRequest.newBuilder()
                .setFilter(io.coracle.cri.v1.ContainerFilter.newBuilder().setPodSandboxId(podId)).build())
                .getContainersList()) {
            var s = runtime.containerStatus(ContainerStatusRequest.newBuilder().setContainerId(c.getId()).build())
                    .getStatus();
            out.println("  container " + c.getMetadata().getName() + ": "
                    + s.getState().name().replace("CONTAINER_", "").toLowerCase()
                    + (s.getState() == io.coracle.cri.v1.ContainerState.CONTAINER_EXITED
                    ? " (exit code " + s.getExitCode() + ", " + s.getReason() + ")" : "") + " (" + c.getId() + ")");
        }
    }

    private List<PodSandbox> find(String name, String namespace) {
        return runtime.listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .putLabelSelector(POD_NAME, name).putLabelSelector(POD_NAMESPACE, namespace)).build()).getItemsList();
    }

    /** emptyDir volumes live under the daemon's root, like the kubelet's pod volumes. */
    private Path emptyDirRoot(String uid) throws IOException {
        String config = runtime.status(StatusRequest.newBuilder().setVerbose(true).build()).getInfoMap().get("config");
        String root = new ObjectMapper().readTree(config).path("root").asText("/var/lib/coracle");
        return Path.of(root, "play-volumes", uid);
    }

    private static BigDecimal cpu(Quantity q) {
        return Quantity.getAmountInBytes(q);
    }

    private static Protocol protocol(String p) {
        return switch (p == null ? "TCP" : p) {
            case "UDP" -> Protocol.UDP;
            case "SCTP" -> Protocol.SCTP;
            default -> Protocol.TCP;
        };
    }

    private static String namespace(Pod pod) {
        return pod.getMetadata().getNamespace() == null ? "default" : pod.getMetadata().getNamespace();
    }
}
