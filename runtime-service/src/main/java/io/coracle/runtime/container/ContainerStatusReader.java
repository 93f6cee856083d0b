package io.coracle.runtime.container;

import io.coracle.cri.CriError;
import com.fasterxml.jackson.core.JsonProcessingException;
import io.coracle.cri.v1.Container;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerFilter;
import io.coracle.cri.v1.ContainerResources;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.ContainerStatus;
import io.coracle.cri.v1.ContainerStatusResponse;
import io.coracle.cri.v1.ContainerUser;
import io.coracle.cri.v1.LinuxContainerUser;
import io.coracle.cri.v1.Signal;
import io.coracle.oci.OciJson;
import io.coracle.oci.Spec;
import io.coracle.shim.ShimStateFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** ContainerStatus and ListContainers, from the records and the shims' state and exit files. */
public final class ContainerStatusReader {
    private final ContainerStore store;
    private final boolean selinuxEnforcing;

    /** Each container's user as its spec has it, read once (the spec does not change after create). */
    private final Map<String, ContainerUser> users = new ConcurrentHashMap<>();

    public ContainerStatusReader(ContainerStore store) {
        this(store, false);
    }

    /** selinuxEnforcing: whether the host's SELinux enforces (else a container's selinux_options show as not applied). */
    public ContainerStatusReader(ContainerStore store, boolean selinuxEnforcing) {
        this.store = store;
        this.selinuxEnforcing = selinuxEnforcing;
    }

    private ContainerUser userOf(ContainerRecord r) {
        ContainerUser known = users.get(r.id());
        if (known != null) {
            return known;
        }
        try {
            Spec spec = OciJson.read(store.containerDir(r.id()).resolve("bundle/config.json"), Spec.class);
            ContainerUser user = ContainerUser.newBuilder().setLinux(LinuxContainerUser.newBuilder()
                    .setUid(spec.process().user().uid())
                    .setGid(spec.process().user().gid())
                    .addAllSupplementalGroups(spec.process().user().additionalGids() == null ? List.of()
                            : spec.process().user().additionalGids())).build();
            users.put(r.id(), user);
            return user;
        } catch (IOException e) {
            // The bundle is gone only while the container is being removed; status stays useful without the user.
            return null;
        }
    }

    public ContainerStatusResponse status(String containerId, boolean verbose) {
        if (containerId.isEmpty()) {
            throw new CriError(CriError.Kind.INVALID, "container_id is empty");
        }
        ContainerRecord r = store.find(containerId).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND, "container " + containerId + " not found"));
        ContainerStates s = ContainerStates.of(r, store);
        // A created or running container's status changes only with its record or its shim's state file:
        // the kubelet asks for it every second, so it is built once per change. (An exited one's reason
        // also depends on files beside the exit record: built each time.)
        boolean keep = !verbose && s.exit().isEmpty()
                && (s.state() == ContainerState.CONTAINER_RUNNING || s.state() == ContainerState.CONTAINER_CREATED);
        ShimStateFile shimFile = s.shim().orElse(null);
        if (keep) {
            StatusEntry e = statuses.get(r.id());
            if (e != null && e.record() == r && e.state() == s.state() && e.shim() == shimFile) {
                return e.response();
            }
        }
        ContainerConfig c = r.containerConfig();
        ContainerStatus.Builder b = ContainerStatus.newBuilder()
                .setId(r.id())
                .setMetadata(c.getMetadata())
                .setState(s.state())
                .setCreatedAt(r.createdAtNanos())
                .setImage(c.getImage())
                .setImageRef(r.imageRef())
                .setImageId(r.imageId())
                .putAllLabels(c.getLabelsMap())
                .putAllAnnotations(c.getAnnotationsMap())
                .addAllMounts(c.getMountsList())
                .setLogPath(r.logPath())
                .setResources(ContainerResources.newBuilder().setLinux(r.linuxResources()));
        Signal stop = c.getStopSignal();
        if (stop != Signal.RUNTIME_DEFAULT && stop != Signal.UNRECOGNIZED) {
            b.setStopSignal(stop);
        }
        s.shim().ifPresent(shim -> b.setStartedAt(shim.startedAt()));
        s.exit().ifPresent(e -> {
            b.setStartedAt(e.startedAt()).setFinishedAt(e.finishedAt()).setExitCode(e.exitCode());
            if (e.oomKilled()) {
                b.setReason("OOMKilled").setMessage("the container's memory cgroup killed it: out of memory");
            } else if (java.nio.file.Files.exists(r.stateDir().resolve(ContainerLifecycle.SHIM_DIED))) {
                b.setReason("ShimDied").setMessage("the container's shim died without recording its exit;"
                        + " Coracle killed what was left of the container");
            } else if (e.startedAt() <= 0 && ContainerStartPlan.startError(store.containerDir(r.id())).isPresent()) {
                b.setReason("StartError").setMessage(ContainerStartPlan.startError(store.containerDir(r.id())).get());
            } else if (e.exitCode() == 0) {
                b.setReason("Completed");
            } else {
                b.setReason("Error");
                if (e.signal() > 0) {
                    b.setMessage("killed by signal " + e.signal());
                }
            }
        });
        if (s.state() == ContainerState.CONTAINER_UNKNOWN) {
            b.setReason("Unknown").setMessage("the container's shim is gone without an exit record");
        }
        ContainerUser user = userOf(r);
        if (user != null) {
            b.setUser(user);
        }
        ContainerStatusResponse.Builder response = ContainerStatusResponse.newBuilder().setStatus(b);
        if (verbose) {
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("pid", s.shim().map(x -> x.pid()).orElse(0));
            info.put("shimPid", s.shim().map(x -> x.shimPid()).orElse(0));
            info.put("stateDir", r.stateDir().toString());
            info.put("bundle", store.containerDir(r.id()).resolve("bundle").toString());
            info.put("cgroupPath", r.cgroupPath());
            info.put("stopSignal", r.stopSignal());
            io.coracle.runtime.spec.LsmStep.unappliedSelinux(c, selinuxEnforcing).ifPresent(note -> info.put("selinux", note));
            try {
                response.putInfo("info", OciJson.MAPPER.writeValueAsString(info));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
        ContainerStatusResponse built = response.build();
        if (keep && user != null) {
            if (statuses.size() >= 10_000) { // the lists prune removed containers; this bounds a daemon never listed
                statuses.clear();
            }
            statuses.put(r.id(), new StatusEntry(r, s.state(), shimFile, built));
        }
        return built;
    }

    /** A created or running container's status response, with the record and shim state it was built from. */
    private record StatusEntry(ContainerRecord record, ContainerState state, ShimStateFile shim,
                               ContainerStatusResponse response) {}

    private final Map<String, StatusEntry> statuses = new ConcurrentHashMap<>();

    /** The statuses of every container of a pod (what its events carry); one removed meanwhile is left out. */
    public List<ContainerStatus> podStatuses(String podId) {
        List<ContainerStatus> out = new ArrayList<>();
        for (ContainerRecord r : store.list()) {
            if (r.podId().equals(podId)) {
                try {
                    out.add(status(r.id(), false).getStatus());
                } catch (CriError e) {
                    // removed since the listing
                }
            }
        }
        return out;
    }

    /** Drops what is remembered of removed containers (the kubelet lists every second). */
    private void forgetRemoved(List<ContainerRecord> all) {
        if (users.size() > all.size() || entries.size() > all.size() || statuses.size() > all.size()) {
            Set<String> ids = new HashSet<>();
            all.forEach(r -> ids.add(r.id()));
            users.keySet().retainAll(ids);
            entries.keySet().retainAll(ids);
            statuses.keySet().retainAll(ids);
        }
        if (ContainerStates.remembered() > all.size()) {
            Set<Path> dirs = new HashSet<>();
            all.forEach(r -> dirs.add(r.stateDir()));
            ContainerStates.retain(dirs);
        }
    }

    /** A container's ListContainers entry, with the record and state it was built from. */
    private record ListEntry(ContainerRecord record, ContainerState state, Container proto) {}

    /**
     * Each container's list entry, kept until its record or state changes: the list rebuilds nothing and
     * protobuf's memoized sizes stay (at 100 containers, building and sizing the entries was most of the call).
     */
    private final Map<String, ListEntry> entries = new ConcurrentHashMap<>();

    private Container listEntry(ContainerRecord r, ContainerConfig c, ContainerState state) {
        ListEntry e = entries.get(r.id());
        if (e != null && e.record() == r && e.state() == state) {
            return e.proto();
        }
        Container p = Container.newBuilder()
                .setId(r.id())
                .setPodSandboxId(r.podId())
                .setMetadata(c.getMetadata())
                .setImage(c.getImage())
                .setImageRef(r.imageRef())
                .setImageId(r.imageId())
                .setState(state)
                .setCreatedAt(r.createdAtNanos())
                .putAllLabels(c.getLabelsMap())
                .putAllAnnotations(c.getAnnotationsMap())
                .build();
        entries.put(r.id(), new ListEntry(r, state, p));
        return p;
    }

    public List<Container> list(ContainerFilter filter) {
        List<Container> out = new ArrayList<>();
        List<ContainerRecord> all = store.list();
        forgetRemoved(all);
        for (ContainerRecord r : all) {
            if (!filter.getId().isEmpty() && !r.id().startsWith(filter.getId())) {
                continue;
            }
            if (!filter.getPodSandboxId().isEmpty() && !r.podId().startsWith(filter.getPodSandboxId())) {
                continue;
            }
            ContainerConfig c = r.containerConfig();
            if (!c.getLabelsMap().entrySet().containsAll(filter.getLabelSelectorMap().entrySet())) {
                continue;
            }
            ContainerState state = ContainerStates.of(r, store).state();
            if (filter.hasState() && filter.getState().getState() != state) {
                continue;
            }
            out.add(listEntry(r, c, state));
        }
        return out;
    }
}
