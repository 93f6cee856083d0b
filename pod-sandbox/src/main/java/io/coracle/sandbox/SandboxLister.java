package io.coracle.sandbox;

import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.ListPodSandboxResponse;
import io.coracle.cri.v1.PodSandbox;
import io.coracle.cri.v1.PodSandboxConfig;
import io.coracle.cri.v1.PodSandboxFilter;
import io.coracle.cri.v1.PodSandboxState;
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

    private final io.coracle.cri.RepeatedAnswers<ListPodSandboxRequest, PodSandbox, ListPodSandboxResponse> answers =
            new io.coracle.cri.RepeatedAnswers<>(items -> ListPodSandboxResponse.newBuilder().addAllItems(items).build());

    public ListPodSandboxResponse list(ListPodSandboxRequest request) {
        return answers.answer(request, matching(request.getFilter(), request.hasFilter()));
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
        java.util.Collection<Sandbox> all = env.store.all();
        if (entries.size() > all.size()) {
            java.util.Set<String> ids = new java.util.HashSet<>();
            all.forEach(s -> ids.add(s.id()));
            entries.keySet().retainAll(ids);
        }
        Sorted known = sorted;
        if (known == null || known.from() != all) { // the store lists the same object until a pod changes
            known = new Sorted(all, all.stream().sorted(Comparator.comparingLong(Sandbox::createdAtNanos)).toList());
            sorted = known;
        }
        return known.pods().stream()
                .map(this::entry)
                .filter(p -> !hasFilter || matches(f, p))
                .toList();
    }

    /** The store's listing, oldest pod first. */
    private record Sorted(java.util.Collection<Sandbox> from, List<Sandbox> pods) {}

    private volatile Sorted sorted;

    /** A pod's list entry, with the record it was built from (records are replaced, never changed). */
    private record Entry(Sandbox sandbox, PodSandbox proto) {}

    /**
     * Each pod's list entry, kept until its record or state changes: the list rebuilds nothing and
     * protobuf's memoized sizes stay (at 100 pods, building and sizing the entries was most of the call).
     */
    private final Map<String, Entry> entries = new java.util.concurrent.ConcurrentHashMap<>();

    private PodSandbox entry(Sandbox s) {
        PodSandboxState state = SandboxStatusReader.state(s);
        Entry e = entries.get(s.id());
        if (e != null && e.sandbox() == s && e.proto().getState() == state) {
            return e.proto();
        }
        PodSandbox p = toProto(s, state);
        entries.put(s.id(), new Entry(s, p));
        return p;
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

    private static PodSandbox toProto(Sandbox s, PodSandboxState state) {
        PodSandboxConfig cfg = s.podConfig();
        return PodSandbox.newBuilder()
                .setId(s.id())
                .setMetadata(SandboxStatusReader.metadata(s))
                .setState(state)
                .setCreatedAt(s.createdAtNanos())
                .putAllLabels(cfg.getLabelsMap())
                .putAllAnnotations(cfg.getAnnotationsMap())
                .setRuntimeHandler(s.runtimeHandler() == null ? "" : s.runtimeHandler())
                .build();
    }
}
