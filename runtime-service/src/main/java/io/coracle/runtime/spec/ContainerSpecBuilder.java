package io.coracle.runtime.spec;

import io.coracle.oci.Spec;
import java.util.List;

/** Builds a container's OCI spec from its CRI config, image and pod, one named step after another. */
public final class ContainerSpecBuilder {
    private static final List<SpecStep> STEPS = List.of(
            new ProcessStep(),
            new UserStep(),
            new NamespaceStep(),
            new MountStep(),
            new DeviceStep(),
            new SecurityStep(),
            new LsmStep(),
            new ResourceStep(),
            new RootfsStep());

    private ContainerSpecBuilder() {
    }

    public static Spec build(ContainerSpecInput input) throws InvalidContainerConfigException {
        return build(input, List.of());
    }

    /** With steps the caller resolved from host configuration (CDI devices), applied after the built-in ones. */
    public static Spec build(ContainerSpecInput input, List<SpecStep> extra) throws InvalidContainerConfigException {
        SpecDraft draft = new SpecDraft();
        for (SpecStep step : STEPS) {
            step.apply(input, draft);
        }
        for (SpecStep step : extra) {
            step.apply(input, draft);
        }
        return draft.toSpec();
    }
}
