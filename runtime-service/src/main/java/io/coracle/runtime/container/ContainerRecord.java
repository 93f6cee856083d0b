package io.coracle.runtime.container;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.google.protobuf.InvalidProtocolBufferException;
import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.LinuxContainerResources;
import java.nio.file.Path;

/**
 * A container as persisted in {@code <root>/containers/<id>/meta.json}: identity, image, paths and
 * its CRI config. Its run state is not here: the shim's state and exit files are the one source.
 *
 * @param imageRef   the image's digested reference (or its ID when it has no repo digest)
 * @param stateDir   the shim's state directory (short, for unix socket paths)
 * @param cgroupPath the container's cgroup, relative to each hierarchy's root
 * @param resources  the current resources (CRI proto bytes): the config's, then any update
 */
public record ContainerRecord(String id, String podId, String name, int attempt, String imageId, String imageRef,
                              long createdAtNanos, String logPath, Path stateDir, String cgroupPath,
                              String stopSignal, byte[] config, byte[] resources) {

    @JsonIgnore
    public ContainerConfig containerConfig() {
        try {
            return io.coracle.cri.StoredMessages.parse(config, ContainerConfig.parser());
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("container " + id + ": stored config unreadable", e);
        }
    }

    @JsonIgnore
    public LinuxContainerResources linuxResources() {
        try {
            return LinuxContainerResources.parseFrom(resources);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("container " + id + ": stored resources unreadable", e);
        }
    }

    public ContainerRecord withResources(LinuxContainerResources r) {
        return new ContainerRecord(id, podId, name, attempt, imageId, imageRef, createdAtNanos, logPath, stateDir,
                cgroupPath, stopSignal, config, r.toByteArray());
    }

    /** The key that makes a name unique within a pod. */
    @JsonIgnore
    public String reservedName() {
        return reservedName(podId, name, attempt);
    }

    static String reservedName(String podId, String name, int attempt) {
        return podId + "/" + name + "/" + attempt;
    }
}
