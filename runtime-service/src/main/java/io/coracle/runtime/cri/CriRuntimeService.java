package io.coracle.runtime.cri;

import io.coracle.cri.v1.ContainerEventResponse;
import io.coracle.cri.v1.ContainerStatsRequest;
import io.coracle.cri.v1.ContainerStatsResponse;
import io.coracle.cri.v1.ContainerStatusRequest;
import io.coracle.cri.v1.ContainerStatusResponse;
import io.coracle.cri.v1.CreateContainerRequest;
import io.coracle.cri.v1.CreateContainerResponse;
import io.coracle.cri.v1.ExecSyncRequest;
import io.coracle.cri.v1.ExecSyncResponse;
import io.coracle.cri.v1.GetEventsRequest;
import io.coracle.cri.v1.ListContainerStatsRequest;
import io.coracle.cri.v1.ListContainerStatsResponse;
import io.coracle.cri.v1.ListContainersRequest;
import io.coracle.cri.v1.ListContainersResponse;
import io.coracle.cri.v1.ListPodSandboxRequest;
import io.coracle.cri.v1.ListPodSandboxResponse;
import io.coracle.cri.v1.ListMetricDescriptorsRequest;
import io.coracle.cri.v1.ListMetricDescriptorsResponse;
import io.coracle.cri.v1.ListPodSandboxMetricsRequest;
import io.coracle.cri.v1.ListPodSandboxMetricsResponse;
import io.coracle.cri.v1.ListPodSandboxStatsRequest;
import io.coracle.cri.v1.ListPodSandboxStatsResponse;
import io.coracle.cri.v1.PodSandboxStatsRequest;
import io.coracle.cri.v1.PodSandboxStatsResponse;
import io.coracle.cri.v1.PodSandboxStatusRequest;
import io.coracle.cri.v1.StreamPodSandboxMetricsRequest;
import io.coracle.cri.v1.StreamPodSandboxMetricsResponse;
import io.coracle.cri.v1.StreamPodSandboxStatsRequest;
import io.coracle.cri.v1.StreamPodSandboxStatsResponse;
import io.coracle.cri.v1.PodSandboxStatusResponse;
import io.coracle.cri.v1.RemoveContainerRequest;
import io.coracle.cri.v1.RemoveContainerResponse;
import io.coracle.cri.v1.RemovePodSandboxRequest;
import io.coracle.cri.v1.RemovePodSandboxResponse;
import io.coracle.cri.v1.ReopenContainerLogRequest;
import io.coracle.cri.v1.ReopenContainerLogResponse;
import io.coracle.cri.v1.RunPodSandboxRequest;
import io.coracle.cri.v1.RunPodSandboxResponse;
import io.coracle.cri.v1.RuntimeConfigRequest;
import io.coracle.cri.v1.RuntimeConfigResponse;
import io.coracle.cri.v1.RuntimeServiceGrpc;
import io.coracle.cri.v1.StartContainerRequest;
import io.coracle.cri.v1.StartContainerResponse;
import io.coracle.cri.v1.StatusRequest;
import io.coracle.cri.v1.StatusResponse;
import io.coracle.cri.v1.StopContainerRequest;
import io.coracle.cri.v1.StopContainerResponse;
import io.coracle.cri.v1.StopPodSandboxRequest;
import io.coracle.cri.v1.StopPodSandboxResponse;
import io.coracle.cri.v1.StreamContainerStatsRequest;
import io.coracle.cri.v1.StreamContainerStatsResponse;
import io.coracle.cri.v1.StreamContainersRequest;
import io.coracle.cri.v1.StreamContainersResponse;
import io.coracle.cri.v1.StreamPodSandboxesRequest;
import io.coracle.cri.v1.StreamPodSandboxesResponse;
import io.coracle.cri.v1.UpdateContainerResourcesRequest;
import io.coracle.cri.v1.UpdateContainerResourcesResponse;
import io.coracle.cri.v1.UpdatePodSandboxResourcesRequest;
import io.coracle.cri.v1.UpdatePodSandboxResourcesResponse;
import io.coracle.cri.v1.UpdateRuntimeConfigRequest;
import io.coracle.cri.v1.UpdateRuntimeConfigResponse;
import io.coracle.cri.v1.VersionRequest;
import io.coracle.cri.v1.VersionResponse;
import io.coracle.cri.v1.CheckpointContainerRequest;
import io.coracle.cri.v1.CheckpointContainerResponse;
import io.coracle.runtime.container.ContainerCheckpointer;
import io.coracle.runtime.container.ContainerCreator;
import io.coracle.runtime.container.ContainerEvents;
import io.coracle.runtime.container.ContainerLifecycle;
import io.coracle.runtime.container.ContainerStatsReader;
import io.coracle.runtime.container.ContainerStatusReader;
import io.coracle.runtime.container.ContainerUpdater;
import io.coracle.runtime.container.ExecSyncRunner;
import io.coracle.runtime.container.PodMetricsReader;
import io.coracle.runtime.container.PodStatsReader;
import io.coracle.sandbox.SandboxService;
import io.coracle.runtime.streaming.StreamUrlIssuer;
import io.coracle.cri.v1.AttachRequest;
import io.coracle.cri.v1.AttachResponse;
import io.coracle.cri.v1.ExecRequest;
import io.coracle.cri.v1.ExecResponse;
import io.coracle.cri.v1.PortForwardRequest;
import io.coracle.cri.v1.PortForwardResponse;
import io.coracle.cri.CriError;
import io.coracle.cri.CriStatus;
import io.grpc.StatusException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.List;

/**
 * The CRI RuntimeService endpoint: each RPC delegates to the class that owns its family (sandbox
 * classes in pod-sandbox, container classes in io.coracle.runtime.container). RPCs not built yet
 * fall through to the generated base, which answers UNIMPLEMENTED naming the method.
 */
public final class CriRuntimeService extends RuntimeServiceGrpc.RuntimeServiceImplBase {

    /** A handler body that answers or throws (a {@link CriError}, or a status). */
    @FunctionalInterface
    private interface Call<T> {
        T run() throws StatusException;
    }

    private final RuntimeStatusReporter status;
    private final SandboxService sandboxes;
    private final ContainerCreator creator;
    private final ContainerLifecycle lifecycle;
    private final ContainerStatusReader containerStatus;
    private final ExecSyncRunner execSync;
    private final ContainerStatsReader stats;
    private final ContainerUpdater updater;
    private final PodStatsReader podStats;
    private final PodMetricsReader podMetrics;
    private final ContainerEvents events;
    private final java.util.function.Supplier<StreamUrlIssuer> streaming;
    private final CriRequestValidator validate;
    private final ContainerCheckpointer checkpointer;

    /** {@code streaming}: the streaming server's URL issuer, waiting for the server if it is still starting. */
    public CriRuntimeService(RuntimeStatusReporter status, SandboxService sandboxes, ContainerCreator creator,
                             ContainerLifecycle lifecycle, ContainerStatusReader containerStatus,
                             ExecSyncRunner execSync, ContainerStatsReader stats, ContainerUpdater updater,
                             PodStatsReader podStats, PodMetricsReader podMetrics, ContainerEvents events,
                             java.util.function.Supplier<StreamUrlIssuer> streaming,
                             ContainerCheckpointer checkpointer) {
        this.status = status;
        this.sandboxes = sandboxes;
        this.creator = creator;
        this.lifecycle = lifecycle;
        this.containerStatus = containerStatus;
        this.execSync = execSync;
        this.stats = stats;
        this.updater = updater;
        this.podStats = podStats;
        this.podMetrics = podMetrics;
        this.events = events;
        this.streaming = streaming;
        this.validate = new CriRequestValidator(sandboxes.resourcesValidator());
        this.checkpointer = checkpointer;
    }

    private static <T> void answer(StreamObserver<T> response, Call<T> call) {
        T value;
        try {
            value = call.run();
        } catch (StatusException | RuntimeException e) {
            response.onError(CriStatus.toGrpc("", e));
            return;
        }
        response.onNext(value);
        response.onCompleted();
    }

    @Override
    public void version(VersionRequest request, StreamObserver<VersionResponse> response) {
        answer(response, status::version);
    }

    @Override
    public void status(StatusRequest request, StreamObserver<StatusResponse> response) {
        answer(response, () -> status.status(request.getVerbose()));
    }

    @Override
    public void runtimeConfig(RuntimeConfigRequest request, StreamObserver<RuntimeConfigResponse> response) {
        answer(response, status::runtimeConfig);
    }

    /**
     * The kubelet sends the node's pod CIDR (maybe dual-stack, comma-separated): Coracle's default
     * network takes the IPv4 one; a CNI config the operator wrote keeps its own ranges.
     */
    @Override
    public void updateRuntimeConfig(UpdateRuntimeConfigRequest request,
                                    StreamObserver<UpdateRuntimeConfigResponse> response) {
        answer(response, () -> {
            validate.updateRuntimeConfig(request);
            String cidrs = request.getRuntimeConfig().getNetworkConfig().getPodCidr();
            if (!cidrs.isEmpty()) {
                String v4 = null;
                for (String cidr : cidrs.split(",")) {
                    String c = cidr.trim();
                    if (v4 == null && c.matches("(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}")) {
                        v4 = c;
                    }
                }
                if (v4 != null) {
                    try {
                        sandboxes.applyPodCidr(v4);
                    } catch (java.io.IOException e) {
                        throw new CriError(CriError.Kind.INTERNAL, "cannot apply pod CIDR " + v4 + ": " + e.getMessage());
                    }
                }
            }
            return UpdateRuntimeConfigResponse.getDefaultInstance();
        });
    }

    // Pod sandboxes

    @Override
    public void runPodSandbox(RunPodSandboxRequest request, StreamObserver<RunPodSandboxResponse> response) {
        answer(response, () -> {
            String handler = request.getRuntimeHandler();
            if (!handler.isEmpty() && !status.runtimeHandlers().contains(handler)) {
                throw CriError.invalid("runtime_handler: runtime handler \"" + handler + "\" is not configured"
                        + " (configured: " + String.join(", ", status.runtimeHandlers().stream()
                        .filter(h -> !h.isEmpty()).toList()) + ")");
            }
            var userns = request.getConfig().getLinux().getSecurityContext().getNamespaceOptions();
            if (userns.hasUsernsOptions()) {
                // A malformed request is INVALID_ARGUMENT on every handler, before what the handler can do.
                io.coracle.sandbox.PodUserNamespace.of("config.linux.security_context.namespace_options.userns_options",
                        userns.getUsernsOptions());
            }
            if (userns.hasUsernsOptions() && userns.getUsernsOptions().getMode() == io.coracle.cri.v1.NamespaceMode.POD
                    && status.userNamespacesMissing(handler) != null) {
                // Status reports user_namespaces false for it: refused, never run in the host's user namespace.
                throw CriError.precondition("userns_options: " + status.userNamespacesMissing(handler));
            }
            return sandboxes.run(request);
        });
    }

    @Override
    public void stopPodSandbox(StopPodSandboxRequest request, StreamObserver<StopPodSandboxResponse> response) {
        answer(response, () -> {
            validate.id("pod_sandbox_id", request.getPodSandboxId());
            return sandboxes.stop(request);
        });
    }

    @Override
    public void removePodSandbox(RemovePodSandboxRequest request, StreamObserver<RemovePodSandboxResponse> response) {
        answer(response, () -> {
            validate.id("pod_sandbox_id", request.getPodSandboxId());
            return sandboxes.remove(request);
        });
    }

    @Override
    public void podSandboxStatus(PodSandboxStatusRequest request, StreamObserver<PodSandboxStatusResponse> response) {
        answer(response, () -> {
            validate.id("pod_sandbox_id", request.getPodSandboxId());
            return sandboxes.status(request);
        });
    }

    @Override
    public void updatePodSandboxResources(UpdatePodSandboxResourcesRequest request,
                                          StreamObserver<UpdatePodSandboxResourcesResponse> response) {
        answer(response, () -> sandboxes.updateResources(request));
    }

    @Override
    public void listPodSandbox(ListPodSandboxRequest request, StreamObserver<ListPodSandboxResponse> response) {
        answer(response, () -> sandboxes.list(request));
    }

    @Override
    public void streamPodSandboxes(StreamPodSandboxesRequest request,
                                   StreamObserver<StreamPodSandboxesResponse> response) {
        try {
            sandboxes.stream(request, response);
        } catch (RuntimeException e) {
            response.onError(CriStatus.toGrpc("", e));
        }
    }

    // Containers

    @Override
    public void createContainer(CreateContainerRequest request, StreamObserver<CreateContainerResponse> response) {
        answer(response, () -> {
            validate.createContainer(request);
            String id = ContainerCheckpointer.restores(request) ? checkpointer.restore(request, creator) : creator.create(request);
            return CreateContainerResponse.newBuilder().setContainerId(id).build();
        });
    }

    @Override
    public void startContainer(StartContainerRequest request, StreamObserver<StartContainerResponse> response) {
        answer(response, () -> {
            validate.id("container_id", request.getContainerId());
            lifecycle.start(request.getContainerId());
            return StartContainerResponse.getDefaultInstance();
        });
    }

    @Override
    public void stopContainer(StopContainerRequest request, StreamObserver<StopContainerResponse> response) {
        answer(response, () -> {
            validate.stopContainer(request.getContainerId(), request.getTimeout());
            lifecycle.stop(request.getContainerId(), request.getTimeout());
            return StopContainerResponse.getDefaultInstance();
        });
    }

    @Override
    public void removeContainer(RemoveContainerRequest request, StreamObserver<RemoveContainerResponse> response) {
        answer(response, () -> {
            validate.id("container_id", request.getContainerId());
            lifecycle.remove(request.getContainerId());
            return RemoveContainerResponse.getDefaultInstance();
        });
    }

    private final io.coracle.cri.RepeatedAnswers<io.coracle.cri.v1.ContainerFilter, io.coracle.cri.v1.Container,
            ListContainersResponse> listedContainers = new io.coracle.cri.RepeatedAnswers<>(
                    entries -> ListContainersResponse.newBuilder().addAllContainers(entries).build());

    @Override
    public void listContainers(ListContainersRequest request, StreamObserver<ListContainersResponse> response) {
        answer(response, () -> listedContainers.answer(request.getFilter(), containerStatus.list(request.getFilter())));
    }

    @Override
    public void streamContainers(StreamContainersRequest request, StreamObserver<StreamContainersResponse> response) {
        try {
            for (var c : containerStatus.list(request.getFilter())) {
                response.onNext(StreamContainersResponse.newBuilder().addContainers(c).build());
            }
            response.onCompleted();
        } catch (RuntimeException e) {
            response.onError(CriStatus.toGrpc("", e));
        }
    }

    @Override
    public void containerStatus(ContainerStatusRequest request, StreamObserver<ContainerStatusResponse> response) {
        answer(response, () -> {
            validate.id("container_id", request.getContainerId());
            return containerStatus.status(request.getContainerId(), request.getVerbose());
        });
    }

    @Override
    public void updateContainerResources(UpdateContainerResourcesRequest request,
                                         StreamObserver<UpdateContainerResourcesResponse> response) {
        answer(response, () -> {
            validate.updateContainerResources(request);
            updater.updateResources(request);
            return UpdateContainerResourcesResponse.getDefaultInstance();
        });
    }

    @Override
    public void reopenContainerLog(ReopenContainerLogRequest request,
                                   StreamObserver<ReopenContainerLogResponse> response) {
        answer(response, () -> {
            validate.id("container_id", request.getContainerId());
            updater.reopenLog(request.getContainerId());
            return ReopenContainerLogResponse.getDefaultInstance();
        });
    }

    @Override
    public void checkpointContainer(CheckpointContainerRequest request,
                                    StreamObserver<CheckpointContainerResponse> response) {
        answer(response, () -> {
            checkpointer.checkpoint(request);
            return CheckpointContainerResponse.getDefaultInstance();
        });
    }

    @Override
    public void exec(ExecRequest request, StreamObserver<ExecResponse> response) {
        answer(response, () -> {
            validate.exec(request);
            return streaming.get().exec(request);
        });
    }

    @Override
    public void attach(AttachRequest request, StreamObserver<AttachResponse> response) {
        answer(response, () -> {
            validate.attach(request);
            return streaming.get().attach(request);
        });
    }

    @Override
    public void portForward(PortForwardRequest request, StreamObserver<PortForwardResponse> response) {
        answer(response, () -> {
            validate.portForward(request);
            return streaming.get().portForward(request);
        });
    }

    @Override
    public void execSync(ExecSyncRequest request, StreamObserver<ExecSyncResponse> response) {
        answer(response, () -> {
            validate.execSync(request);
            return execSync.execSync(request);
        });
    }

    @Override
    public void containerStats(ContainerStatsRequest request, StreamObserver<ContainerStatsResponse> response) {
        answer(response, () -> {
            validate.id("container_id", request.getContainerId());
            return ContainerStatsResponse.newBuilder().setStats(stats.stats(request.getContainerId())).build();
        });
    }

    @Override
    public void listContainerStats(ListContainerStatsRequest request,
                                   StreamObserver<ListContainerStatsResponse> response) {
        answer(response, () -> ListContainerStatsResponse.newBuilder()
                .addAllStats(stats.list(request.getFilter())).build());
    }

    @Override
    public void streamContainerStats(StreamContainerStatsRequest request,
                                     StreamObserver<StreamContainerStatsResponse> response) {
        try {
            for (var s : stats.list(request.getFilter())) {
                response.onNext(StreamContainerStatsResponse.newBuilder().addContainerStats(s).build());
            }
            response.onCompleted();
        } catch (RuntimeException e) {
            response.onError(CriStatus.toGrpc("", e));
        }
    }

    @Override
    public void podSandboxStats(PodSandboxStatsRequest request, StreamObserver<PodSandboxStatsResponse> response) {
        answer(response, () -> {
            validate.id("pod_sandbox_id", request.getPodSandboxId());
            return PodSandboxStatsResponse.newBuilder().setStats(podStats.stats(request.getPodSandboxId())).build();
        });
    }

    @Override
    public void listPodSandboxStats(ListPodSandboxStatsRequest request,
                                    StreamObserver<ListPodSandboxStatsResponse> response) {
        answer(response, () -> ListPodSandboxStatsResponse.newBuilder()
                .addAllStats(podStats.list(request.getFilter())).build());
    }

    @Override
    public void streamPodSandboxStats(StreamPodSandboxStatsRequest request,
                                      StreamObserver<StreamPodSandboxStatsResponse> response) {
        try {
            for (var s : podStats.list(request.getFilter())) {
                response.onNext(StreamPodSandboxStatsResponse.newBuilder().addPodSandboxStats(s).build());
            }
            response.onCompleted();
        } catch (RuntimeException e) {
            response.onError(CriStatus.toGrpc("", e));
        }
    }

    @Override
    public void listMetricDescriptors(ListMetricDescriptorsRequest request,
                                      StreamObserver<ListMetricDescriptorsResponse> response) {
        answer(response, () -> ListMetricDescriptorsResponse.newBuilder()
                .addAllDescriptors(podMetrics.descriptors()).build());
    }

    @Override
    public void listPodSandboxMetrics(ListPodSandboxMetricsRequest request,
                                      StreamObserver<ListPodSandboxMetricsResponse> response) {
        answer(response, () -> ListPodSandboxMetricsResponse.newBuilder()
                .addAllPodMetrics(podMetrics.metrics()).build());
    }

    @Override
    public void streamPodSandboxMetrics(StreamPodSandboxMetricsRequest request,
                                        StreamObserver<StreamPodSandboxMetricsResponse> response) {
        try {
            for (var m : podMetrics.metrics()) {
                response.onNext(StreamPodSandboxMetricsResponse.newBuilder().addPodSandboxMetrics(m).build());
            }
            response.onCompleted();
        } catch (RuntimeException e) {
            response.onError(CriStatus.toGrpc("", e));
        }
    }

    @Override
    public void getContainerEvents(GetEventsRequest request, StreamObserver<ContainerEventResponse> response) {
        events.subscribe((ServerCallStreamObserver<ContainerEventResponse>) response);
    }

}
