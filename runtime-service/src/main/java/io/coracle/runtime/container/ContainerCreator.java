package io.coracle.runtime.container;

import io.coracle.cri.CriError;
import io.coracle.sys.PrivateFiles;
import io.coracle.cgroup.Cgroups;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerEventType;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.Signal;
import io.coracle.image.ImageException;
import io.coracle.image.ImageService;
import io.coracle.image.content.ImageConfig;
import io.coracle.image.store.ImageRecord;
import io.coracle.oci.OciJson;
import io.coracle.oci.Resources;
import io.coracle.oci.Spec;
import io.coracle.runtime.spec.ContainerSpecBuilder;
import io.coracle.runtime.spec.ContainerReferences;
import io.coracle.runtime.spec.ContainerSpecInput;
import io.coracle.runtime.spec.PodContext;
import io.coracle.runtime.spec.SpecStep;
import io.coracle.runtime.cdi.CdiRegistry;
import io.coracle.runtime.cdi.CdiStep;
import io.coracle.shim.CreateRequest;
import io.coracle.shim.ShimClient;
import io.coracle.shim.ShimException;
import io.coracle.shim.ShimLauncher;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * CreateContainer: resolves pod and image, reserves the name, writes the bundle and the record. The
 * process is made at StartContainer ({@link #createProcess}), as containerd runs runc create there.
 */
public final class ContainerCreator {
    private static final Logger LOG = Logger.getLogger(ContainerCreator.class.getName());
    private static final SecureRandom RANDOM = new SecureRandom();
    static final Duration CREATE_TIMEOUT = Duration.ofSeconds(30);
    private static final java.util.Set<java.nio.file.attribute.PosixFilePermission> CONTAINER_ROOT_MODE =
            java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x");

    private final ContainerStore store;
    private final ImageService images;
    private final PodLookup pods;
    private final ShimLauncher shims;
    private final Cgroups cgroups;
    private final ContainerEvents events;
    private final Map<String, Path> runtimes;
    private final Path shimStateRoot;
    private final HostFeatures host;
    private final ContainerReferenceResolver references;
    /** The CDI spec directories (config key cdi.spec_dirs). */
    private volatile CdiRegistry cdi = new CdiRegistry(CdiRegistry.DEFAULT_DIRS);
    private final ContainerScopes scopes;

    public ContainerCreator(ContainerStore store, ImageService images, PodLookup pods, ShimLauncher shims,
                            Cgroups cgroups, ContainerEvents events, Map<String, Path> runtimes, Path shimStateRoot,
                            HostFeatures host, ContainerScopes scopes) {
        this.host = host;
        this.scopes = scopes;
        this.store = store;
        this.images = images;
        this.pods = pods;
        this.shims = shims;
        this.cgroups = cgroups;
        this.events = events;
        this.runtimes = runtimes;
        this.shimStateRoot = shimStateRoot;
        this.references = new ContainerReferenceResolver(images, store);
    }

    /** Whether containers are systemd scopes (the systemd cgroup driver). */
    public boolean systemdScopes() {
        return scopes.systemd() != null;
    }

    /** Where CDI spec files are read from (later directories override earlier ones). */
    public void useCdiSpecDirs(List<Path> dirs) {
        this.cdi = new CdiRegistry(dirs);
    }

    /**
     * Creates the container with its pod held against stop and removal (shared lock): a pod being
     * removed refuses it (NOT_FOUND once gone), and its removal never misses it.
     */
    public String create(CreateContainerRequest request) {
        return create(request, null);
    }

    /**
     * What a restore adds to a create (ContainerCheckpointer): given the new container's directory, its
     * still empty upperdir and its spec, it fills the upperdir and returns the shim's restore plan.
     */
    public interface Restore {
        Path prepare(Path containerDir, Path upper, Path bundle, Spec spec) throws IOException;
    }

    /** CreateContainer; with {@code restore}, the process comes from a checkpoint at StartContainer. */
    public String create(CreateContainerRequest request, Restore restore) {
        String podId = pods.find(request.getPodSandboxId()).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND,
                "pod sandbox " + request.getPodSandboxId() + " not found")).podId();
        java.util.concurrent.locks.Lock podLock = pods.sharedLock(podId);
        podLock.lock();
        try {
            return createLocked(request, podId, restore);
        } finally {
            podLock.unlock();
        }
    }

    private String createLocked(CreateContainerRequest request, String podId, Restore restore) {
        ContainerConfig config = request.getConfig(); // its shape is checked by the CRI edge's CriRequestValidator
        PodContext pod = pods.find(podId).filter(p -> p.podId().equals(podId)).orElseThrow(() -> new CriError(
                CriError.Kind.NOT_FOUND, "pod sandbox " + podId + " not found (removed)"));
        if (!pods.ready(pod.podId())) {
            throw new CriError(CriError.Kind.PRECONDITION, "pod sandbox " + pod.podId()
                    + " is not ready: its containers cannot be created");
        }
        java.nio.file.Path runtime = null;
        if (!pod.runtimeHandler().isEmpty()) {
            runtime = runtimes.get(pod.runtimeHandler());
            if (runtime == null) {
                throw new CriError(CriError.Kind.PRECONDITION, "pod sandbox " + pod.podId() + " uses runtime handler \""
                        + pod.runtimeHandler() + "\", which is not configured");
            }
        }
        ImageRecord image = images.find(config.getImage().getImage()).orElseThrow(() -> new CriError(CriError.Kind.NOT_FOUND, "image \"" + config.getImage().getImage() + "\" is not present: pull it first"));

        String id = newId();
        String name = config.getMetadata().getName();
        int attempt = config.getMetadata().getAttempt();
        String reserved = ContainerRecord.reservedName(pod.podId(), name, attempt);
        Optional<String> holder = store.reserve(reserved, id);
        if (holder.isPresent()) {
            Optional<ContainerRecord> earlier = store.get(holder.get());
            if (earlier.isPresent() && sameConfig(earlier.get(), config)
                    && ContainerStates.of(earlier.get(), store).state() == io.coracle.cri.v1.ContainerState.CONTAINER_CREATED) {
                // The kubelet's retry after its call timed out: the container that call made is the answer.
                LOG.info("container " + holder.get() + ": a repeated CreateContainer gets the container an earlier"
                        + " call created");
                return holder.get();
            }
            throw new CriError(CriError.Kind.ALREADY_EXISTS, "container name \"" + name + "\" (attempt " + attempt
                    + ") is already used in pod " + pod.podId() + " by container " + holder.get()
                    + (earlier.isPresent() ? "" : " (still being created)"));
        }
        Path dir = store.containerDir(id);
        Path stateDir = shimStateRoot.resolve(id.substring(0, 16));
        Path runtimeRootfs = runtime != null && pod.usernsMaps() != null ? runtimeRootfs(stateDir) : null;
        long t0 = System.nanoTime();
        long tSpec = 0;
        long tLease = 0;
        try {
            // Private (0700) around the bundle, whose config.json holds the env; the upperdir's own mode
            // is the mode of the container's "/", which every user in the container must pass: 0755.
            String cgroupPath = pod.cgroupParent() + "/" + scopes.leaf(id);
            // Before anything exists: what a start-up after a crash must undo. Not fsync'd: all it names
            // is volatile but the image lease, which start-up releases when no container holds it.
            PrivateFiles.write(PrivateFiles.directory(dir).resolve(ContainerIntent.FILE), OciJson.MAPPER
                    .writeValueAsBytes(new ContainerIntent(id, pod.podId(), stateDir, cgroupPath)), false);
            Path bundle = PrivateFiles.directory(PrivateFiles.directory(dir).resolve("bundle"));
            Files.createDirectories(bundle.resolve("rootfs"));
            Path upper = PrivateFiles.directory(dir.resolve("upper"), CONTAINER_ROOT_MODE);
            Path work = PrivateFiles.directory(dir.resolve("work"));
            if (pod.usernsMaps() != null) {
                // The container's "/" is its own writable layer's top directory: the pod's root owns it, as
                // the image's root shows through the idmapped layers. Nothing of the image is chowned.
                Files.setAttribute(upper, "unix:uid", (int) pod.usernsMaps().uid().host(), java.nio.file.LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(upper, "unix:gid", (int) pod.usernsMaps().gid().host(), java.nio.file.LinkOption.NOFOLLOW_LINKS);
            }
            ImageConfig.Settings settings = images.imageConfig(image.id()).settings();
            List<Path> lowerDirs = images.lowerDirs(image.id());
            ContainerReferences refs = references.resolve(id, pod.podId(), config, dir);
            List<String> cdiDevices = CdiRegistry.requested(config);
            List<SpecStep> cdiStep = cdiDevices.isEmpty() ? List.of() : List.of(new CdiStep(cdi.resolve(cdiDevices)));
            Spec spec = ContainerSpecBuilder.build(new ContainerSpecInput(id, config, settings, pod, lowerDirs, upper,
                    work, cgroupPath, cgroups.v2(), host.confinement(pod.runtimeHandler()), refs), cdiStep);
            if (runtimeRootfs != null) {
                // runc and crun mount the rootfs by its path from inside the pod's user namespace (made at start).
                spec = new Spec(spec.ociVersion(), spec.process(), new io.coracle.oci.Root(runtimeRootfs.toString(),
                        spec.root().readonly()), spec.hostname(), spec.mounts(), spec.annotations(), spec.linux(), spec.hooks());
            }
            // An OCI runtime handler runs config.json's hooks itself; for Coracle's shim the daemon does.
            if (runtime == null) {
                OciHooks.save(dir, spec);
            }
            // No fsync: the shim reads the bundle at once, and after a crash of the node it is never read again.
            PrivateFiles.write(bundle.resolve("config.json"), OciJson.MAPPER.writeValueAsBytes(spec), false);
            Path restorePlan = restore == null ? null : restore.prepare(dir, upper, bundle, spec);
            tSpec = System.nanoTime();

            Path logPath = null;
            if (!pod.logDirectory().isEmpty() && !config.getLogPath().isEmpty()) {
                logPath = Path.of(pod.logDirectory()).resolve(config.getLogPath()); // relative, without '..'
                Files.createDirectories(logPath.getParent());
            }
            images.holdVolatile(id, image.id()); // start-up takes it again if a node's crash lost it
            tLease = System.nanoTime();
            new ContainerStartPlan(refs.targetPidnsId(), restorePlan).write(dir);
            finishCreate(id, pod.podId(), name, attempt, image, logPath, stateDir, cgroupPath, config, settings, dir);
            LOG.fine(String.format("container %s create took %.1fms: spec+bundle %.1f, image lease %.1f, record %.1f",
                    id, (System.nanoTime() - t0) / 1e6, (tSpec - t0) / 1e6, (tLease - tSpec) / 1e6,
                    (System.nanoTime() - tLease) / 1e6));
            events.publish(id, pod.podId(), ContainerEventType.CONTAINER_CREATED_EVENT);
            return id;
        } catch (Exception e) {
            undo(id, reserved, dir, new ContainerIntent(id, pod.podId(), stateDir, pod.cgroupParent() + "/" + scopes.leaf(id)));
            throw failure(id, name, e);
        }
    }

    private String finishCreate(String id, String podId, String name, int attempt, ImageRecord image, Path logPath,
                                Path stateDir, String cgroupPath, ContainerConfig config, ImageConfig.Settings settings,
                                Path dir) throws IOException {
        ContainerRecord record = new ContainerRecord(id, podId, name, attempt, image.id(),
                image.repoDigests().isEmpty() ? image.id() : image.repoDigests().get(0),
                System.currentTimeMillis() * 1_000_000L, logPath == null ? "" : logPath.toString(), stateDir,
                cgroupPath, stopSignal(config, settings), config.toByteArray(),
                config.getLinux().getResources().toByteArray());
        store.put(record);
        Files.deleteIfExists(dir.resolve(ContainerIntent.FILE));
        LOG.info("container " + id + " created: name=" + name + " pod=" + podId + " image=" + image.id()
                + (Files.exists(dir.resolve(ContainerCheckpointer.RESTORE_DIR)) ? " (restored from a checkpoint at start)" : ""));
        return id;
    }

    /**
     * The second half of CreateContainer, run by StartContainer under its pod's shared lock: the shim
     * creates the process (namespaces, rootfs, cgroup), then the container's scope, the target PID
     * namespace check and the OCI create hooks, as at a runtime's create; the start plan goes last.
     * For a restore, the shim waits for StartContainer's criu restore. Returns the process's host PID.
     * A failure leaves nothing of the shim (state dir, cgroup, processes) and the container EXITED
     * with the reason (StartError); the error answers as the create's did (INVALID_ARGUMENT when the
     * request is at fault).
     */
    int createProcess(ContainerRecord r, OciHooks.Plan hooks) {
        Path dir = store.containerDir(r.id());
        Path bundle = dir.resolve("bundle");
        ContainerIntent made = new ContainerIntent(r.id(), r.podId(), r.stateDir(), r.cgroupPath());
        long t0 = System.nanoTime();
        try {
            if (Files.exists(r.stateDir())) {
                undoProcess(made); // a shim whose start a crash interrupted (recovery removes these too)
            }
            ContainerStartPlan plan = ContainerStartPlan.read(dir);
            PodContext pod = pods.find(r.podId()).filter(p -> p.podId().equals(r.podId())).orElseThrow(() ->
                    CriError.notFound("pod sandbox " + r.podId() + " not found (removed)"));
            Path runtime = null;
            if (!pod.runtimeHandler().isEmpty()) {
                runtime = runtimes.get(pod.runtimeHandler());
                if (runtime == null) {
                    throw CriError.precondition("pod sandbox " + pod.podId() + " uses runtime handler \""
                            + pod.runtimeHandler() + "\", which is not configured");
                }
            }
            Path runtimeRootfs = runtime != null && pod.usernsMaps() != null ? runtimeRootfs(r.stateDir()) : null;
            if (runtimeRootfs != null) {
                // runc and crun mount the rootfs by its path from inside the pod's user namespace: its
                // mount point is on a path the pod's root may pass (the bundle's is private to root).
                PrivateFiles.directory(runtimeRootfs.getParent(), PrivateFiles.TRAVERSABLE);
                Files.createDirectory(runtimeRootfs, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        PrivateFiles.DIRECTORY)); // empty on the host: the rootfs is mounted on it in the shim's namespace
            }
            ShimLauncher.Created created = shims.create(new CreateRequest(bundle, r.stateDir(),
                    r.logPath().isEmpty() ? null : Path.of(r.logPath()), r.containerConfig().getStdin(), runtime,
                    pod.shimCgroup(), plan.restorePlan()), CREATE_TIMEOUT);
            long tShim = System.nanoTime();
            if (plan.restorePlan() == null) {
                Resources limits = scopes.systemd() == null ? null
                        : OciJson.read(bundle.resolve("config.json"), Spec.class).linux().resources();
                scopes.start(r.cgroupPath(), r.id(), created.pid(), limits);
                if (scopes.systemd() != null && limits != null) {
                    // Starting the scope wrote systemd's defaults over files it owns (memory.high, swap):
                    // the shim writes the container's limits again, as runc writes its own after systemd.
                    new ShimClient(r.stateDir()).update(new Resources(limits.memory(), limits.cpu(), limits.pids(),
                            limits.hugepageLimits(), null, limits.unified()));
                }
                if (runtimeRootfs != null) {
                    // Empty on the host: the runtime pivoted into its own copy of the mount, the shim's goes with it.
                    Files.deleteIfExists(runtimeRootfs);
                }
                ContainerReferenceResolver.checkJoined(plan.targetPidns(), created.pid());
                OciHooks.run(hooks, r.id(), created.pid(), bundle, "created", "prestart", "createRuntime",
                        "createContainer");
            }
            Files.delete(dir.resolve(ContainerStartPlan.FILE));
            LOG.fine(String.format("container %s process created in %.1fms: shim %.1f, scope+hooks %.1f", r.id(),
                    (System.nanoTime() - t0) / 1e6, (tShim - t0) / 1e6, (System.nanoTime() - tShim) / 1e6));
            return created.pid();
        } catch (Exception e) {
            CriError error = failure(r.id(), r.name(), e);
            try {
                undoProcess(made);
                ContainerStartPlan.failed(dir, error.getMessage());
            } catch (IOException | RuntimeException cleanup) {
                LOG.warning("container " + r.id() + ": cleanup after its failed start incomplete: " + cleanup);
            }
            LOG.info("container " + r.id() + ": start failed (StartError): " + error.getMessage());
            throw error;
        }
    }

    /** Kills and deletes what a shim's creation made (state dir, scope, cgroup, processes). */
    private void undoProcess(ContainerIntent made) throws IOException {
        try {
            scopes.stop(made.cgroupPath());
        } catch (IOException | RuntimeException e) {
            LOG.warning("container " + made.id() + ": stopping its scope after a failed start: " + e);
        }
        ContainerCleanup.undoProcess(made, cgroups);
    }

    /** The error a failed create answers with; the shim's own class says whether the request is at fault. */
    private static CriError failure(String id, String name, Exception e) {
        return switch (e) {
            case ImageException ie -> CriError.notFound(ie.getMessage());
            case CriError c -> c; // e.g. InvalidContainerConfigException: the config is at fault
            case ShimException se when se.errorClass() == ShimException.ErrorClass.INVALID ->
                    CriError.invalid("create container " + name + ": " + se.getMessage());
            case ShimException se -> new CriError(CriError.Kind.INTERNAL, "create container " + name + ": " + se.getMessage());
            default -> {
                LOG.warning("container " + id + " create failed: " + e);
                yield CriError.internal("create container " + name + ": " + e.getMessage(), e);
            }
        };
    }

    private static boolean sameConfig(ContainerRecord r, ContainerConfig config) {
        try {
            return r.containerConfig().equals(config);
        } catch (IllegalStateException unreadable) {
            return false;
        }
    }

    private void undo(String id, String reserved, Path dir, ContainerIntent intent) {
        try {
            // Through the state dir, not the launcher's answer: a shim whose create timed out may still live.
            try {
                scopes.stop(intent.cgroupPath());
            } catch (IOException | RuntimeException e) {
                // A unit left behind is stopped at the next start (orphaned units); the rest goes now.
                LOG.warning("container " + id + ": stopping its scope after a failed create: " + e);
            }
            ContainerCleanup.undoCreate(intent, dir, cgroups, images);
        } catch (IOException | RuntimeException e) {
            LOG.warning("container " + id + ": cleanup after failed create incomplete (finished at the next start): " + e);
        } finally {
            store.unreserve(reserved, id);
        }
    }

    /** Where a runtime handler's container in a user namespace has its rootfs mounted: {@code <state>/rootfs/<id>}. */
    static Path runtimeRootfs(Path stateDir) {
        return stateDir.getParent().resolveSibling("rootfs").resolve(stateDir.getFileName());
    }

    static String stopSignal(ContainerConfig config, ImageConfig.Settings image) {
        if (config.getStopSignal() != Signal.RUNTIME_DEFAULT && config.getStopSignal() != Signal.UNRECOGNIZED) {
            return config.getStopSignal().name();
        }
        if (image.stopSignal() != null && Signals.parse(image.stopSignal()) > 0) {
            return image.stopSignal();
        }
        return "SIGTERM";
    }

    static String newId() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

}
