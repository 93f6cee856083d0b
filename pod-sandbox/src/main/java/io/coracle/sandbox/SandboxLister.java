package io.coracle.sandbox;

import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.ListPodSandboxResponse;
import io.coracle.cri.v1.PodSandbox;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxFilter;
import io.coracle.cri.v1.StreamPodSandboxesRequest;
import io.coracle.cri.v1.StreamPodSandboxesResponse;
import io.grpc.stub.StreamObserver;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/** ListPodSandbox and StreamPodSandboxes: filters by id prefix, state and label selector (all must match). */
public final class SandboxLister {
    private static final int STREAM_CHUNK = 100;

    private final SandboxEnvironment env;

    SandboxLister(SandboxEnvironment env) {
        this.env = env;
    }

    public ListPodSandboxResponse list(ListPodSandboxRequest request) {
        return ListPodSandboxResponse.newBuilder().addAllItems(matching(request.getFilter(), request.hasFilter())).build();
    }

    /** Sends the matching pods in chunks, then completes the stream. */
    public void stream(StreamPodSandboxesRequest request, StreamObserver<StreamPodSandboxesResponse> out) {
        List<PodSandbox> all = matching(request.getFilter(), request.hasFilter());
        for (int i = 0; i < all.size(); i += STREAM_CHUNK) {
            out.onNext(StreamPodSandboxesResponse.newBuilder()
                    .addAllPodSandboxes(all.subList(i, Math.min(all.size(), i + STREAM_CHUNK))).build());
        }
        out.onCompleted();
    }

    List<PodSandbox> matching(PodSandboxFilter f, boolean hasFilter) {
        return env.store.all().stream()
                .sorted(Comparator.comparingLong(Sandbox::createdAtNanos))
                .map(this::toProto)
                .filter(p -> !hasFilter || matches(f, p))
                .toList();
    }

    private static boolean matches(PodSandboxFilter f, PodSandbox p) {
        if (!f.getId().isEmpty() && !p.getId().startsWith(f.getId())) {
            return false;
        }
        if (f.hasState() && f.getState().getState() != p.getState()) {
            return false;
        }
        for (Map.Entry<String, String> e : f.getLabelSelectorMap().entrySet()) {
            if (!e.getValue().equals(p.getLabelsMap().get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    private PodSandbox toProto(Sandbox s) {
        PodSandboxConfig cfg = s.podConfig();
        return PodSandbox.newBuilder()
                .setId(s.id())
                .setMetadata(SandboxStatusReader.metadata(s))
                .setState(SandboxStatusReader.state(s))
                .setCreatedAt(s.createdAtNanos())
                .putAllLabels(cfg.getLabelsMap())
                .putAllAnnotations(cfg.getAnnotationsMap())
                .setRuntimeHandler(s.runtimeHandler() == null ? "" : s.runtimeHandler())
                .build();
    }
}
