package io.coracle.oci;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/** The spec's {@code linux.seccomp}: actions and operators by their SCMP_* names. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Seccomp(String defaultAction, Integer defaultErrnoRet, List<String> architectures,
                      List<Syscall> syscalls) {
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Syscall(List<String> names, String action, Integer errnoRet, List<Arg> args) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Arg(int index, long value, Long valueTwo, String op) {}
}
