package io.coracle.sandbox;

import io.coracle.cri.CriError;
import io.coracle.sys.PrivateFiles;
import io.coracle.sys.FileTrees;
import io.coracle.sys.Mounts;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.LinuxPodSandboxConfig;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxMetadata;
import io.coracle.cri.v1.PodSandboxStatus;
import io.coracle.cri.v1.PortMapping;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * RunPodSandbox: pod files and /dev/shm, pod cgroup, the pause process in new namespaces, the
 * netns bind mount, sysctls, CNI ADD; then the record is persisted. Any failure undoes every step
 * already done, in reverse.
 */
public final class SandboxRunner {
    private static final Logger LOG = Logger.getLogger(SandboxRunner.class.getName());
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Duration PAUSE_TIMEOUT = Duration.ofSeconds(10);

    private final SandboxEnvironment env;

    SandboxRunner(SandboxEnvironment env) {
        this.env = env;
    }

    /** One step's undo, run when a later step fails. */
    private interface Undo {
        void run() throws Exception;
    }

    public RunPodSandboxResponse run(RunPodSandboxRequest request) {
        long t0 = System.nanoTime();
        PodSandboxConfig cfg = request.getConfig();
        Plan plan;
        try {
            plan = plan(request);
        } catch (IllegalArgumentException e) {
            throw CriError.invalid(e.getMessage());
        }
        String id = HexFormat.of().formatHex(randomBytes());
        String reserved = Sandbox.reservedName(plan.meta.getName(), plan.meta.getNamespace(), plan.meta.getUid(),
                plan.meta.getAttempt());
        Optional<String> holder = env.store.reserve(reserved, id);
        if (holder.isPresent()) {
            Optional<Sandbox> earlier = env.store.get(holder.get());
            if (earlier.isPresent() && earlier.get().ready() && sameRequest(earlier.get(), request)) {
                // The kubelet's retry after its call timed out: the sandbox that call made is the answer.
                LOG.info(() -> "sandbox " + SandboxEnvironment.podName(earlier.get())
                        + ": a repeated RunPodSandbox gets the sandbox an earlier call created");
                return RunPodSandboxResponse.newBuilder().setPodSandboxId(holder.get()).build();
            }
            throw new CriError(CriError.Kind.ALREADY_EXISTS, "failed to reserve sandbox name \"" + reserved
                    + "\": name is reserved for sandbox " + holder.get()
                    + (earlier.isEmpty() ? " (still being created)" : earlier.get().ready() ? " (with another config)" : ""));
        }
        Deque<Undo> undo = new ArrayDeque<>();
        undo.push(() -> env.store.release(reserved, id));
        String label = SandboxEnvironment.shortId(id) + " " + plan.meta.getNamespace() + "/" + plan.meta.getName();
        try {
            CniConfigLoader.NetworkList net = plan.hostNetwork ? null : network();
            // Before anything exists: what a start-up after a crash must undo, durably.
            Path podDir = env.config.stateDir().resolve(id);
            String parent = cfg.getLinux().getCgroupParent();
            PodCgroup.Names cg = env.cgroups.names(parent, env.config.defaultCgroupParent(), id);
            SandboxIntent intent = new SandboxIntent(SandboxIntent.Op.RUN, id, plan.meta.getName(),
                    plan.meta.getNamespace(), plan.meta.getUid(), podDir,
                    plan.hostNetwork ? null : podDir.resolve("netns"), cg.pod(), cg.pause(), parent.isEmpty(), null,
                    net == null ? null : net.json(), cfg.toByteArray());
            env.store.putIntent(intent, true);
            Sandbox s = create(id, request, plan, net, undo, intent);
            env.store.put(s);
            clearIntent(id);
            PodSandboxStatus status = SandboxStatusReader.statusOf(s);
            env.announce(ContainerEventType.CONTAINER_CREATED_EVENT, status);
            env.announce(ContainerEventType.CONTAINER_STARTED_EVENT, status);
            LOG.info(() -> "sandbox " + label + ": ready in " + (System.nanoTime() - t0) / 1_000_000 + " ms, pause pid "
                    + s.pausePid() + (s.ip() == null ? "" : ", ip " + s.ip()));
            return RunPodSandboxResponse.newBuilder().setPodSandboxId(id).build();
        } catch (Exception e) {
            if (rollback(label, undo)) {
                clearIntent(id);
            } else {
                LOG.warning("sandbox " + label + ": undo incomplete; its intent record stays for the next start-up");
            }
            LOG.warning("sandbox " + label + ": run failed: " + e.getMessage());
            throw error(id, e);
        }
    }

    private void clearIntent(String id) {
        try {
            env.store.clearIntent(id);
        } catch (IOException e) {
            LOG.warning("sandbox " + SandboxEnvironment.shortId(id) + ": cannot delete its intent record: " + e.getMessage());
        }
    }

    /** Whether a run request asks for exactly the pod an earlier one made (the kubelet retrying). */
    private static boolean sameRequest(Sandbox s, RunPodSandboxRequest request) {
        String handler = s.runtimeHandler() == null ? "" : s.runtimeHandler();
        try {
            return handler.equals(request.getRuntimeHandler()) && s.podConfig().equals(request.getConfig());
        } catch (IllegalStateException unreadable) {
            return false;
        }
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return b;
    }

    private static CriError error(String id, Exception e) {
        if (e instanceof CriError c) {
            return c;
        }
        if (e instanceof IllegalArgumentException) {
            return CriError.invalid(e.getMessage());
        }
        if (e instanceof CniNetwork.PluginException) {
            return new CriError(CriError.Kind.UNKNOWN, "failed to set up network for sandbox " + id + ": "
                    + e.getMessage(), e);
        }
        return CriError.internal("failed to run sandbox " + id + ": " + e.getMessage(), e);
    }

    /** Runs every undo step; whether all succeeded. */
    private boolean rollback(String label, Deque<Undo> undo) {
        boolean ok = true;
        while (!undo.isEmpty()) {
            try {
                undo.pop().run();
            } catch (Exception e) {
                ok = false;
                LOG.log(Level.WARNING, "sandbox " + label + ": undo step failed: " + e.getMessage(), e);
            }
        }
        return ok;
    }

    /** The validated request: everything checked before anything is created. */
    private record Plan(PodSandboxMetadata meta, boolean hostNetwork, boolean hostIpc, Sandbox.PidMode pidMode,
                        String hostname, Map<String, String> sysctls, List<PortMapping> ports,
                        PodUserNamespace userns) {}

    /** The request checked by the validator, and what follows from it. */
    Plan plan(RunPodSandboxRequest request) {
        env.validator.check(request);
        PodSandboxConfig cfg = request.getConfig();
        PodSandboxMetadata meta = cfg.getMetadata();
        LinuxPodSandboxConfig linux = cfg.getLinux();
        NamespaceOption ns = linux.getSecurityContext().getNamespaceOptions();
        boolean hostNetwork = ns.getNetwork() == NamespaceMode.NODE;
        boolean hostIpc = ns.getIpc() == NamespaceMode.NODE;
        Sandbox.PidMode pid = switch (ns.getPid()) {
            case POD -> Sandbox.PidMode.POD;
            case CONTAINER -> Sandbox.PidMode.CONTAINER;
            default -> Sandbox.PidMode.NODE;
        };
        String hostname = cfg.getHostname();
        if (hostname.isEmpty()) {
            hostname = hostNetwork ? hostHostname() : truncate(meta.getName(), 63);
        }
        if (!hostNetwork && !PodSandboxConfigValidator.HOSTNAME.matcher(hostname).matches()) {
            throw CriError.invalid("config.hostname: '" + hostname + "' (from the pod name) is invalid");
        }
        Map<String, String> sysctls = PodSysctls.validate(linux.getSysctlsMap(), hostNetwork, hostIpc);
        // The kubelet sends container ports without host ports too: only host ports are mapped.
        List<PortMapping> ports = cfg.getPortMappingsList().stream().filter(p -> p.getHostPort() > 0).toList();
        PodUserNamespace userns = PodUserNamespace.of("config.linux.security_context.namespace_options.userns_options",
                ns.hasUsernsOptions() ? ns.getUsernsOptions() : null);
        return new Plan(meta, hostNetwork, hostIpc, pid, hostname, sysctls, ports, userns);
    }

    private static String hostHostname() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
        } catch (IOException e) {
            return "localhost";
        }
    }

    private static String truncate(String s, int n) {
        String t = s.length() > n ? s.substring(0, n) : s;
        return t.replaceAll("[^A-Za-z0-9.-]", "-").replaceAll("^[^A-Za-z0-9]+", "x");
    }

    /** The pod network, checked before anything is created: its config loads and every plugin is installed. */
    private CniConfigLoader.NetworkList network() {
        try {
            CniConfigLoader.NetworkList net = env.cniConfig.load();
            env.cniConfig.plugin("loopback");
            for (var p : net.plugins()) {
                env.cniConfig.plugin(p.get("type").asText());
            }
            return net;
        } catch (IOException e) {
            throw CriError.precondition("network not ready: " + e.getMessage());
        }
    }

    private Sandbox create(String id, RunPodSandboxRequest request, Plan plan, CniConfigLoader.NetworkList net,
                           Deque<Undo> undo, SandboxIntent intent) throws Exception {
        PodSandboxConfig cfg = request.getConfig();
        String label = SandboxEnvironment.shortId(id) + " " + plan.meta.getNamespace() + "/" + plan.meta.getName();

        // Pod files and /dev/shm under the volatile dir.
        StepTimer timer = new StepTimer();
        Path podDir = intent.podDir();
        PrivateFiles.directory(podDir);
        undo.push(() -> FileTrees.delete(podDir));
        PodFiles.write(podDir, cfg.getDnsConfig(), plan.hostname, plan.hostNetwork);
        if (!plan.hostIpc) { // a host-IPC pod shares the host's /dev/shm
            PodFiles.mountShm(podDir, env.config.shmSizeBytes());
            undo.push(() -> PodFiles.unmountShm(podDir));
        }

        timer.mark("files");
        // Pod cgroup and the pause leaf.
        PodCgroup.Names cg = new PodCgroup.Names(intent.cgroupPod(), intent.cgroupPause());
        String createdFrom = env.cgroups.create(cg, cfg.getLinux().hasResources() ? cfg.getLinux().getResources() : null,
                cfg.getLinux().hasOverhead() ? cfg.getLinux().getOverhead() : null);
        undo.push(() -> env.cgroups.remove(cg, createdFrom));
        env.store.putIntent(intent.withCgroupCreatedFrom(createdFrom), false); // volatile, as cgroups are

        timer.mark("cgroup");
        // The pause process in its namespaces, moved into the pause cgroup.
        Set<String> namespaces = new LinkedHashSet<>();
        if (!plan.hostNetwork) {
            namespaces.add("net");
            namespaces.add("uts");
        }
        if (!plan.hostIpc) {
            namespaces.add("ipc");
        }
        if (plan.pidMode != Sandbox.PidMode.NODE) {
            namespaces.add("pid");
        }
        // With a pod user namespace the pause makes it first, and the others inside it: they belong to it
        // (the network too, as containerd 2.x has runc make it; CNI still configures it from the host).
        int pid = env.pauseLauncher.launch(namespaces, plan.hostNetwork ? null : plan.hostname,
                podDir.resolve("pause.pid"), PAUSE_TIMEOUT, plan.userns == null ? List.of() : plan.userns.pauseArgs());
        PauseProcess pause = new PauseProcess(pid, PauseProcess.startTimeOf(pid));
        undo.push(() -> pause.kill(5000));
        timer.mark("pause");
        // Moving a task between v1 cgroups waits for an RCU grace period per hierarchy: do it while CNI runs.
        java.util.concurrent.CompletableFuture<Void> joinCgroup = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                env.cgroups.addProcess(cg.pause(), pid);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, VirtualThreads.EXECUTOR);
        undo.push(() -> joinCgroup.exceptionally(e -> null).join());

        // The network namespace outlives the pause process until CNI DEL succeeds.
        Path netns = null;
        if (!plan.hostNetwork) {
            netns = intent.netnsPath();
            Mounts.bindNamespace(Path.of("/proc", String.valueOf(pid), "ns", "net"), netns);
            Path mounted = netns;
            undo.push(() -> Mounts.unmountAll(mounted));
        }
        PodSysctls.apply(pid, plan.hostNetwork, plan.hostIpc, plan.sysctls);
        timer.mark("netns+sysctls");

        String ip = null, cniNetwork = null, cniResult = null;
        List<String> additional = List.of();
        boolean attached = false;
        if (!plan.hostNetwork) {
            CniNetwork.PodRef ref = new CniNetwork.PodRef(id, plan.meta.getName(), plan.meta.getNamespace(), plan.meta.getUid());
            Path ns = netns;
            // DEL is pushed before ADD: a half-done ADD leaves state only DEL can clean.
            undo.push(() -> env.cni.del(net, ref, ns, plan.ports, null));
            CniNetwork.Attachment a = env.cni.add(net, ref, netns, plan.ports);
            undo.pop();
            undo.push(() -> env.cni.del(net, ref, ns, plan.ports, a.resultJson()));
            cniNetwork = net.json();
            cniResult = a.resultJson();
            attached = true;
            if (!a.ips().isEmpty()) {
                ip = a.ips().getFirst();
                additional = a.ips().subList(1, a.ips().size());
                PodFiles.addHostEntry(podDir, ip, plan.hostname);
            }
        }
        try {
            joinCgroup.join();
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof java.io.UncheckedIOException u ? u.getCause() : e;
        }
        timer.mark("cni");
        LOG.fine(() -> "sandbox " + label + ": namespaces " + namespaces + ", cgroup " + cg.pod() + ", steps " + timer);
        Instant now = Instant.now();
        SandboxMetadata metadata = new SandboxMetadata(id, plan.meta.getName(), plan.meta.getNamespace(),
                plan.meta.getUid(), plan.meta.getAttempt(), now.getEpochSecond() * 1_000_000_000L + now.getNano(),
                plan.hostNetwork, plan.hostIpc, plan.pidMode, podDir, netns, cg.pod(), cg.pause(), createdFrom,
                cfg.getLogDirectory(), request.getRuntimeHandler(), cfg.toByteArray());
        return new Sandbox(metadata, new SandboxStatus(Sandbox.State.READY, pid, pause.startTime(), ip, additional,
                attached, cniNetwork, cniResult));
    }
}
