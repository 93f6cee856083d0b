package io.coracle.runtime.spec;

/** One named part of turning a CRI container config into an OCI spec; testable alone against a draft. */
@FunctionalInterface
public interface SpecStep {
    void apply(ContainerSpecInput input, SpecDraft spec) throws InvalidContainerConfigException;
}
