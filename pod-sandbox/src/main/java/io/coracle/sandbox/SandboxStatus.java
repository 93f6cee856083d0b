package io.coracle.sandbox;

import java.util.List;

/**
 * What changes in a pod sandbox's life: its state, the pause process, and its network (the
 * addresses and whether CNI ADD is still to be undone). Updates replace only this record.
 *
 * @param networkAttached CNI ADD done and not yet undone by a successful DEL
 * @param cniNetwork    the network list config (JSON) used at ADD, so DEL uses the same
 * @param cniResult     the ADD result (JSON), the prevResult of DEL and CHECK
 */
public record SandboxStatus(Sandbox.State state, int pausePid, long pauseStartTime, String ip,
                            List<String> additionalIps, boolean networkAttached, String cniNetwork,
                            String cniResult) {

    public SandboxStatus {
        additionalIps = additionalIps == null ? List.of() : List.copyOf(additionalIps);
    }

    SandboxStatus withState(Sandbox.State s) {
        return new SandboxStatus(s, pausePid, pauseStartTime, ip, additionalIps, networkAttached, cniNetwork, cniResult);
    }

    SandboxStatus withNetworkDetached() {
        return new SandboxStatus(state, pausePid, pauseStartTime, ip, additionalIps, false, cniNetwork, cniResult);
    }
}
