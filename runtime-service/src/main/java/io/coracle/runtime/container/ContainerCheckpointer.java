package io.coracle.runtime.container;

import com.google.protobuf.util.JsonFormat;
import io.coracle.cgroup.Cgroups;
import io.coracle.cri.CriError;
import io.coracle.cri.v1.CheckpointContainerRequest;
import io.coracle.cri.v1.ContainerState;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.image.ImageService;
import io.coracle.oci.OciJson;
import io.coracle.runtime.checkpoint.CheckpointImage;
import io.coracle.oci.Spec;
import io.coracle.runtime.checkpoint.CheckpointArchive;
import io.coracle.runtime.checkpoint.CheckpointLocation;
import io.coracle.runtime.checkpoint.CriuDump;
import io.coracle.runtime.checkpoint.CriuSupport;
import io.coracle.runtime.checkpoint.CheckpointContents;
import io.coracle.runtime.checkpoint.CriuRestore;
import io.coracle.runtime.checkpoint.RootfsRestore;
import io.coracle.runtime.checkpoint.RootfsDiff;
import io.coracle.sys.AtFiles;
import io.coracle.sys.PrivateFiles;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * CheckpointContainer: a running container checkpointed with CRIU (left running) into a checkpoint
 * archive at a location inside the checkpoint directory. Nothing is written at the location unless
 * the whole archive is: CRIU's images, the rootfs diff and the metadata are made in a private work
 * directory first. A failed dump answers with CRIU's own reason and keeps its log for the operator.
 */
public final class ContainerCheckpointer {
    private static final Logger LOG = Logger.getLogger(ContainerCheckpointer.class.getName());
    static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);
    static final Duration MAX_TIMEOUT = Duration.ofHours(1);
    /** Where a failed dump's CRIU log stays, in the container's directory. */
    public static final String FAILED_DUMP_LOG = "criu-dump.log";
    private static final int MAX_SPEC_BYTES = 4 << 20;
    /** The oldest CRIU the kubelet's runtimes accept for container checkpoints (3.16). */
    static final int MIN_CRIU = 31600;

    private final ContainerStore store;
    private final PodLookup pods;
    private final Cgroups cgroups;
    private final ContainerStatusReader status;
    private final CriuSupport criu;
    private final Path checkpointDir;
    private final ImageService images;

    public ContainerCheckpointer(ContainerStore store, PodLookup pods, Cgroups cgroups, ContainerStatusReader status,
                                 ImageService images, CriuSupport criu, Path checkpointDir) {
        this.images = images;
        this.store = store;
        this.pods = pods;
        this.cgroups = cgroups;
        this.status = status;
        this.criu = criu;
        this.checkpointDir = checkpointDir;
    }

    public CriuSupport criu() {
        return criu;
    }

    public Path checkpointDir() {
        return checkpointDir;
    }

    /** Whether a CreateContainer asks to restore a checkpoint archive (its image is the archive's path). */
    public static boolean restores(CreateContainerRequest request) {
        return CheckpointImage.named(request.getConfig().getImage().getImage());
    }

    /**
     * CreateContainer from a checkpoint archive, as CRI-O takes it: the archive (inside the checkpoint
     * directory) is read and checked, and the image it was checkpointed from must be present. The new
     * container is made from that image with the new request's metadata, mounts, labels and log path;
     * its upperdir gets the archive's rootfs diff and deletions, and its shim restores the process
     * with {@code criu restore} at StartContainer ({@link CriuRestore}). Without a CRIU that works on
     * this kernel the request is refused with CRIU's reason once the archive is checked (the container
     * begun is undone).
     */
    public String restore(CreateContainerRequest request, ContainerCreator creator) {
        String podId = request.getPodSandboxId();
        var pod = pods.find(podId).orElseThrow(() -> CriError.notFound("pod sandbox " + podId + " not found"));
        String archivePath = request.getConfig().getImage().getImage();
        CheckpointImage archive = CheckpointImage.read(checkpointDir, archivePath);
        String base = archive.rootfsImageRef().isEmpty() ? archive.rootfsImageName() : archive.rootfsImageRef();
        if (images.find(base).isEmpty()) {
            base = archive.rootfsImageName();
            if (images.find(base).isEmpty()) {
                throw CriError.notFound("checkpoint archive " + archive.archive() + " was taken from image \""
                        + archive.rootfsImageName() + "\", which is not present: pull it first");
            }
        }
        if (creator.systemdScopes()) {
            throw CriError.precondition("restore of checkpoint archive " + archive.archive() + ": not built for the"
                    + " systemd cgroup driver (the restored process would be outside its container's scope)");
        }
        if (!pod.runtimeHandler().isEmpty() || pod.usernsMaps() != null) {
            throw CriError.precondition("restore of checkpoint archive " + archive.archive() + ": only into pods of the"
                    + " default handler without a user namespace (this pod: handler \"" + pod.runtimeHandler()
                    + "\"" + (pod.usernsMaps() != null ? ", user namespace" : "") + ")");
        }
        var config = request.getConfig().toBuilder();
        config.getImageBuilder().setImage(base);
        CreateContainerRequest create = request.toBuilder().setConfig(config).build();
        String id = creator.create(create, (containerDir, upper, bundle, spec) -> {
            Path work = PrivateFiles.directory(containerDir.resolve(RESTORE_DIR));
            CheckpointContents contents = CheckpointContents.unpack(checkpointDir, archivePath, work);
            RootfsRestore.apply(contents.rootfsDiff(), contents.deleted(), upper, archivePath);
            if (contents.rootfsDiff() != null) {
                Files.delete(contents.rootfsDiff());
            }
            // After the archive's content is checked (hostile content is INVALID_ARGUMENT on any host).
            if (!criu.usable()) {
                throw CriError.precondition("restore of checkpoint archive " + archive.archive() + " (container \""
                        + archive.containerName() + "\", image " + archive.rootfsImageName() + "): " + criu.describe()
                        + " (criu check, at start-up)");
            }
            Path empty = PrivateFiles.directory(work.resolve("empty"),
                    java.nio.file.attribute.PosixFilePermissions.fromString("r-xr-xr-x"));
            String plan = CriuRestore.plan(new CriuRestore.Request(criu.binary(), contents.imagesDir(), work,
                    bundle.resolve(spec.root().path()), contents.spec(), contents.descriptors(), spec, empty));
            Path file = work.resolve("restore.plan");
            PrivateFiles.write(file, plan.getBytes(java.nio.charset.StandardCharsets.UTF_8), false);
            return file;
        });
        LOG.info("container " + id + " created from checkpoint archive " + archivePath + " (container \""
                + archive.containerName() + "\"): criu restore runs at start");
        return id;
    }

    /** For a failed start of a restored container: CRIU's error lines and its log, "" for any other container. */
    static String restoreFailure(Path containerDir) {
        Path log = containerDir.resolve(RESTORE_DIR).resolve(CriuRestore.LOG);
        if (!Files.isRegularFile(log, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return "";
        }
        try {
            List<String> errors = CriuSupport.errorLines(CriuSupport.readBounded(log));
            return "; criu restore: " + (errors.isEmpty() ? "no error lines" : String.join("; ", errors))
                    + "; CRIU's log: " + log;
        } catch (IOException e) {
            return "; CRIU's log: " + log;
        }
    }

    /** How long StartContainer of a restored container waits for criu restore (the shim's own bound is 5 minutes). */
    static final Duration RESTORE_TIMEOUT = Duration.ofMinutes(5).plusSeconds(10);

    /** Where a restored container's CRIU images, plan and CRIU's restore.log are, in its directory. */
    public static final String RESTORE_DIR = "restore";

    public void checkpoint(CheckpointContainerRequest request) {
        String id = request.getContainerId();
        if (id.isEmpty()) {
            throw CriError.invalid("container_id: empty");
        }
        if (request.getTimeout() < 0 || request.getTimeout() > MAX_TIMEOUT.toSeconds()) {
            throw CriError.invalid("timeout: " + request.getTimeout() + " is not between 0 and "
                    + MAX_TIMEOUT.toSeconds() + " seconds");
        }
        CheckpointLocation location = CheckpointLocation.parse(checkpointDir, request.getLocation());
        ContainerRecord found = store.find(id).orElseThrow(() -> CriError.notFound("container " + id + " not found"));
        java.util.concurrent.locks.Lock podLock = pods.sharedLock(found.podId());
        podLock.lock();
        try {
            ContainerRecord r = store.get(found.id()).orElseThrow(() -> CriError.notFound("container " + id
                    + " not found (removed)"));
            ContainerStates s = ContainerStates.of(r, store);
            if (s.state() != ContainerState.CONTAINER_RUNNING || s.shim().isEmpty()) {
                throw CriError.precondition("container " + r.id() + " is " + ContainerLifecycle.stateName(s.state())
                        + ": only running containers can be checkpointed");
            }
            location.checkFree();
            if (criu.binary() == null || (criu.versionNumber() > 0 && criu.versionNumber() < MIN_CRIU)) {
                // containerd's words, which the kubelet's checkpoint e2e test recognizes as "not supported here".
                throw new CriError(CriError.Kind.UNKNOWN, "CRIU binary not found or too old (<" + MIN_CRIU
                        + "). Failed to checkpoint container \"" + r.id() + "\": " + criu.describe());
            }
            Duration timeout = request.getTimeout() == 0 ? DEFAULT_TIMEOUT : Duration.ofSeconds(request.getTimeout());
            checkpointLocked(r, s.shim().get().pid(), location, timeout);
        } finally {
            podLock.unlock();
        }
    }

    private void checkpointLocked(ContainerRecord r, int pid, CheckpointLocation location, Duration timeout) {
        Path containerDir = store.containerDir(r.id());
        // One per call: checkpoints of one container may overlap; a crash's leftover goes with the container.
        Path work = containerDir.resolve("checkpoint-work-" + Long.toHexString(System.nanoTime()));
        try {
            PrivateFiles.directory(work);
            Path images = PrivateFiles.directory(work.resolve(CheckpointArchive.CHECKPOINT_DIR));
            byte[] specBytes = readBounded(containerDir.resolve("bundle/config.json"));
            Spec spec = OciJson.MAPPER.readValue(specBytes, Spec.class);
            Instant started = Instant.now();
            Path freezer = cgroups.v2() ? Cgroups.ROOT.resolve(r.cgroupPath().substring(1))
                    : Cgroups.ROOT.resolve("freezer").resolve(r.cgroupPath().substring(1));
            byte[] descriptors = OciJson.MAPPER.writeValueAsBytes(stdio(pid));
            CriuDump.run(new CriuDump.Request(criu.binary(), pid, spec, freezer, images, work, timeout), r.id(),
                    containerDir.resolve(FAILED_DUMP_LOG));

            Path diff = work.resolve(CheckpointArchive.ROOTFS_DIFF);
            List<String> deleted;
            int upperFd = AtFiles.openDirectory(containerDir.resolve("upper"), AtFiles.O_RDONLY);
            try (OutputStream out = Files.newOutputStream(diff)) {
                deleted = RootfsDiff.write(upperFd, out);
            } finally {
                AtFiles.close(upperFd);
            }
            var containerStatus = status.status(r.id(), false).getStatus();
            CheckpointArchive.Contents contents = new CheckpointArchive.Contents(
                    configDump(r, containerStatus.getImage().getImage(), started,
                            pods.find(r.podId()).map(p -> p.runtimeHandler()).orElse("")),
                    specBytes,
                    JsonFormat.printer().print(containerStatus).getBytes(java.nio.charset.StandardCharsets.UTF_8),
                    descriptors, images, diff, deleted,
                    r.logPath().isEmpty() ? null : Path.of(r.logPath()),
                    work.resolve(CheckpointArchive.DUMP_LOG),
                    firstExisting(images.resolve(CheckpointArchive.STATS_DUMP), work.resolve(CheckpointArchive.STATS_DUMP)));
            writeArchive(location, contents);
            LOG.info("container " + r.id() + " checkpointed to " + location.location() + " (left running)");
        } catch (IOException e) {
            throw CriError.internal("checkpoint container " + r.id() + ": " + e.getMessage(), e);
        } finally {
            try {
                AtFiles.deleteTree(work);
            } catch (IOException e) {
                LOG.warning("container " + r.id() + ": cannot remove " + work + ": " + e.getMessage());
            }
        }
    }

    private static void writeArchive(CheckpointLocation location, CheckpointArchive.Contents contents) {
        FileChannel channel = location.create();
        boolean done = false;
        try (channel) {
            OutputStream out = Channels.newOutputStream(channel);
            CheckpointArchive.write(contents, out);
            out.flush();
            channel.force(true);
            done = true;
        } catch (IOException e) {
            throw CriError.internal("write checkpoint archive " + location.location() + ": " + e.getMessage(), e);
        } finally {
            if (!done) {
                location.removeCreated();
            }
        }
    }

    /** config.dump: checkpointctl's ContainerConfig keys (Podman's, shared by CRI-O and containerd). */
    private static byte[] configDump(ContainerRecord r, String imageName, Instant checkpointed, String handler)
            throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", r.id());
        m.put("name", r.name());
        m.put("rootfsImage", r.imageId());
        m.put("rootfsImageRef", r.imageRef());
        m.put("rootfsImageName", imageName.isEmpty() ? r.containerConfig().getImage().getImage() : imageName);
        m.put("runtime", handler.isEmpty() ? "coracle-shim" : handler);
        m.put("createdTime", Instant.ofEpochSecond(0, r.createdAtNanos()).toString());
        m.put("checkpointedTime", checkpointed.toString());
        m.put("restoredTime", "0001-01-01T00:00:00Z");
        m.put("restored", false);
        return OciJson.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(m);
    }

    /** What the container's fds 0-2 are ("pipe:[1234]", "/dev/null"), for --inherit-fd at restore. */
    private static List<String> stdio(int pid) {
        List<String> out = new ArrayList<>();
        for (int fd = 0; fd < 3; fd++) {
            try {
                out.add(Files.readSymbolicLink(Path.of("/proc", String.valueOf(pid), "fd", String.valueOf(fd))).toString());
            } catch (IOException e) {
                out.add("");
            }
        }
        return out;
    }

    private static Path firstExisting(Path... candidates) {
        for (Path p : candidates) {
            if (Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                return p;
            }
        }
        return null;
    }

    private static byte[] readBounded(Path p) throws IOException {
        try (var in = Files.newInputStream(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            byte[] b = in.readNBytes(MAX_SPEC_BYTES + 1);
            if (b.length > MAX_SPEC_BYTES) {
                throw new IOException(p + " is larger than " + MAX_SPEC_BYTES + " bytes");
            }
            return b;
        }
    }
}
