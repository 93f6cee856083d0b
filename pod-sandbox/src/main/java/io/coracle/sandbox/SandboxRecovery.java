package io.coracle.sandbox;

import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PortMapping;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.sys.FileTrees;
import io.coracle.sys.Mounts;
import io.coracle.sys.PrivateFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * Start-up for pods, in one place: reloads the records, marks pods whose pause died NOTREADY, retries
 * the CNI DEL a stop could not finish, undoes every RunPodSandbox a crash interrupted (from its intent
 * record: CNI DEL with the recorded args, pause killed, netns and /dev/shm unmounted, cgroups and pod
 * dir removed), and, once containers are back, finishes every interrupted RemovePodSandbox. One log
 * line per recovered object.
 */
final class SandboxRecovery {
    private static final Logger LOG = Logger.getLogger(SandboxRecovery.class.getName());
    private static final long PAUSE_KILL_TIMEOUT_MS = 10_000;

    private final SandboxEnvironment env;
    private final List<String> pendingRemovals = new ArrayList<>();

    SandboxRecovery(SandboxEnvironment env) {
        this.env = env;
    }

    List<Sandbox> recover() throws IOException {
        PrivateFiles.directory(env.config.stateDir());
        PrivateFiles.directory(env.config.rootDir());
        try {
            env.cniConfig.writeDefaultIfEmpty();
        } catch (IOException e) {
            LOG.warning("cni: cannot write the default network config in " + env.config.cniConfDir() + ": " + e.getMessage());
        }
        List<Sandbox> loaded = env.store.load();
        int ready = 0;
        for (Sandbox s : loaded) {
            if (s.ready() && !s.pause().alive()) {
                Sandbox stopped = s.withState(Sandbox.State.NOTREADY);
                env.store.put(stopped);
                env.announce(ContainerEventType.CONTAINER_STOPPED_EVENT, SandboxStatusReader.statusOf(stopped));
                LOG.warning("sandbox " + SandboxEnvironment.podName(s) + ": pause process " + s.pausePid()
                        + " is gone; marked NOTREADY");
            } else if (s.ready()) {
                ready++;
            }
        }
        retryNetworkTeardown();
        List<String> damaged = new ArrayList<>();
        for (SandboxIntent intent : env.store.intents(damaged)) {
            boolean recorded = env.store.get(intent.id()).isPresent();
            switch (intent.op()) {
                case RUN -> {
                    if (recorded) {
                        env.store.clearIntent(intent.id()); // it finished; only the intent's deletion was lost
                    } else {
                        undoRun(intent);
                    }
                }
                case REMOVE -> {
                    if (recorded) {
                        pendingRemovals.add(intent.id());
                    } else {
                        env.store.clearIntent(intent.id());
                    }
                }
            }
        }
        for (String id : damaged) {
            undoDamaged(id);
        }
        removeOrphans();
        LOG.info("sandboxes recovered: " + loaded.size() + " (" + ready + " ready)");
        return env.store.all().stream().toList();
    }

    /** The removals a crash interrupted, finished once the containers are recovered (they go first). */
    void finishRemovals(SandboxRemover remover) {
        for (String id : pendingRemovals) {
            try {
                remover.remove(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
                LOG.warning("sandbox " + SandboxEnvironment.shortId(id) + ": finished a RemovePodSandbox a crash interrupted");
            } catch (RuntimeException e) {
                LOG.warning("sandbox " + SandboxEnvironment.shortId(id) + ": cannot finish its interrupted removal: "
                        + e.getMessage());
            }
        }
        pendingRemovals.clear();
    }

    /** A stopped pod whose CNI DEL failed keeps its netns for a retry: retried now, as on every stop. */
    private void retryNetworkTeardown() {
        for (Sandbox s : env.store.all()) {
            if (s.ready() || !s.networkAttached()) {
                continue;
            }
            try {
                Path netns = s.netnsPath() != null && Mounts.mounted(s.netnsPath()) ? s.netnsPath() : null;
                env.cni.del(CniConfigLoader.NetworkList.parse(Path.of("(stored)"), s.cniNetwork()),
                        new CniNetwork.PodRef(s.id(), s.name(), s.namespace(), s.uid()), netns, ports(s.podConfig()),
                        s.cniResult());
                if (s.netnsPath() != null) {
                    Mounts.unmountAll(s.netnsPath());
                    Files.deleteIfExists(s.netnsPath());
                }
                env.store.put(s.withNetworkDetached());
                LOG.warning("sandbox " + SandboxEnvironment.podName(s) + ": CNI DEL that failed before now succeeded");
            } catch (IOException | RuntimeException e) {
                LOG.warning("sandbox " + SandboxEnvironment.podName(s) + ": CNI DEL still fails (retried on its next stop): "
                        + e.getMessage());
            }
        }
    }

    /** Undoes a RunPodSandbox that never finished, newest step first; the intent stays if CNI DEL fails. */
    private void undoRun(SandboxIntent in) {
        String label = SandboxEnvironment.shortId(in.id()) + " " + in.namespace() + "/" + in.name();
        List<String> done = new ArrayList<>();
        boolean delOk = true;
        try {
            if (in.cniNetwork() != null) {
                try {
                    Path netns = in.netnsPath() != null && Mounts.mounted(in.netnsPath()) ? in.netnsPath() : null;
                    env.cni.del(CniConfigLoader.NetworkList.parse(Path.of("(intent)"), in.cniNetwork()),
                            new CniNetwork.PodRef(in.id(), in.name(), in.namespace(), in.uid()), netns,
                            ports(PodSandboxConfig.parseFrom(in.config())), null);
                    done.add("CNI DEL");
                } catch (IOException e) {
                    delOk = false;
                    LOG.warning("sandbox " + label + ": CNI DEL of an unfinished run failed (retried at the next start): "
                            + e.getMessage());
                }
            }
            for (int pid : pausePids(in.podDir().resolve("pause.pid"))) {
                new PauseProcess(pid, PauseProcess.startTimeOf(pid)).kill(PAUSE_KILL_TIMEOUT_MS);
                done.add("pause " + pid + " killed");
            }
            if (delOk && in.netnsPath() != null) {
                Mounts.unmountAll(in.netnsPath());
            }
            PodFiles.unmountShm(in.podDir());
            String from = in.cgroupCreatedFrom() != null ? in.cgroupCreatedFrom() : in.ownsPodCgroup() ? in.cgroupPod() : null;
            env.cgroups.remove(new PodCgroup.Names(in.cgroupPod(), in.cgroupPause()), from);
            done.add("cgroups removed");
            if (delOk) {
                FileTrees.delete(in.podDir());
                env.store.clearIntent(in.id());
            }
            LOG.warning("sandbox " + label + ": undid a RunPodSandbox a crash interrupted (" + String.join(", ", done) + ")");
        } catch (IOException | RuntimeException e) {
            LOG.warning("sandbox " + label + ": cannot undo its unfinished run (" + String.join(", ", done) + "): "
                    + e.getMessage());
        }
    }

    /**
     * A record dir with neither a readable record nor a readable intent (garbled or truncated): its
     * pod dir is cleaned as an orphan, and its cgroups are removed if they have Coracle's default names.
     */
    private void undoDamaged(String id) {
        if (!id.matches("[0-9a-f]{64}")) {
            LOG.warning("sandbox records: " + env.store.dir(id) + " is not a sandbox's; left alone");
            return;
        }
        List<String> done = new ArrayList<>();
        try {
            try {
                // host-local and most IPAM plugins release by container id: the current network config does.
                env.cni.del(env.cniConfig.load(), new CniNetwork.PodRef(id, "", "", ""), null, List.of(), null);
                done.add("CNI DEL");
            } catch (IOException e) {
                done.add("CNI DEL failed: " + e.getMessage());
            }
            for (int pid : pausePids(env.config.stateDir().resolve(id).resolve("pause.pid"))) {
                new PauseProcess(pid, PauseProcess.startTimeOf(pid)).kill(PAUSE_KILL_TIMEOUT_MS);
                done.add("pause " + pid + " killed");
            }
            PodCgroup.Names cg = env.cgroups.names("", env.config.defaultCgroupParent(), id);
            env.cgroups.remove(cg, cg.pod());
            FileTrees.delete(env.store.dir(id));
            LOG.warning("sandbox " + SandboxEnvironment.shortId(id) + ": record " + env.store.dir(id)
                    + " damaged (unreadable); the pod is lost, what is left of it removed (" + String.join(", ", done) + ")");
        } catch (IOException | RuntimeException e) {
            LOG.warning("sandbox " + SandboxEnvironment.shortId(id) + ": record damaged, cleanup failed: " + e.getMessage());
        }
    }

    /**
     * Pod dirs without a record or intent are what a daemon crash leaves before the intent existed or
     * after it was cleared: kill their pause process, unmount /dev/shm and the netns, delete the dir.
     */
    private void removeOrphans() throws IOException {
        List<Path> dirs;
        try (var s = Files.list(env.config.stateDir())) {
            dirs = s.filter(Files::isDirectory).toList();
        }
        for (Path dir : dirs) {
            String id = dir.getFileName().toString();
            if (env.store.get(id).isPresent() || Files.exists(env.store.dir(id).resolve(SandboxStore.INTENT))) {
                continue;
            }
            try {
                for (int pid : pausePids(dir.resolve("pause.pid"))) {
                    new PauseProcess(pid, PauseProcess.startTimeOf(pid)).kill(PAUSE_KILL_TIMEOUT_MS);
                }
                PodFiles.unmountShm(dir);
                Mounts.unmountAll(dir.resolve("netns"));
                FileTrees.delete(dir);
                LOG.warning("sandbox " + SandboxEnvironment.shortId(id) + ": removed the leftovers of an unfinished run in " + dir);
            } catch (IOException | RuntimeException e) {
                LOG.warning("sandbox " + SandboxEnvironment.shortId(id) + ": cannot clean leftovers in " + dir + ": " + e.getMessage());
            }
        }
    }

    /**
     * The coracle-pause processes started with this pidfile: the pidfile's PID if it names one, and any
     * whose command line names the pidfile (a pause killed with its daemon before it wrote the file).
     */
    static List<Integer> pausePids(Path pidFile) throws IOException {
        List<Integer> out = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                String name = p.getFileName().toString();
                if (!name.matches("[0-9]{1,10}")) {
                    continue;
                }
                try {
                    if (!Files.readString(p.resolve("comm")).trim().equals(io.coracle.sys.NativePrograms.PAUSE)) {
                        continue;
                    }
                    byte[] cmdline = Files.readAllBytes(p.resolve("cmdline"));
                    if (List.of(new String(cmdline, StandardCharsets.UTF_8).split("\0")).contains(pidFile.toString())) {
                        out.add(Integer.parseInt(name));
                    }
                } catch (IOException gone) {
                    // exited meanwhile
                }
            }
        }
        return out;
    }

    private static List<PortMapping> ports(PodSandboxConfig cfg) {
        return cfg.getPortMappingsList().stream().filter(p -> p.getHostPort() > 0).toList();
    }
}
