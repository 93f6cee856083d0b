package io.coracle.oci;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * The spec's {@code process}: also the body of an exec request. {@code apparmorProfile} and
 * {@code selinuxLabel}: the LSM labels the process takes at execve (null: none).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Process(Boolean terminal, ConsoleSize consoleSize, User user, List<String> args, List<String> env,
                      String cwd, Capabilities capabilities, List<Rlimit> rlimits, Boolean noNewPrivileges,
                      Integer oomScoreAdj, String apparmorProfile, String selinuxLabel) {
    /** A process without LSM labels. */
    public Process(Boolean terminal, ConsoleSize consoleSize, User user, List<String> args, List<String> env,
                   String cwd, Capabilities capabilities, List<Rlimit> rlimits, Boolean noNewPrivileges,
                   Integer oomScoreAdj) {
        this(terminal, consoleSize, user, args, env, cwd, capabilities, rlimits, noNewPrivileges, oomScoreAdj, null, null);
    }

    public record ConsoleSize(int height, int width) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record User(long uid, long gid, Integer umask, List<Long> additionalGids) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Capabilities(List<String> bounding, List<String> effective, List<String> inheritable,
                               List<String> permitted, List<String> ambient) {
        /** The same capabilities in the bounding, effective and permitted sets. */
        public static Capabilities of(List<String> caps) {
            return new Capabilities(caps, caps, List.of(), caps, List.of());
        }
    }

    public record Rlimit(String type, long hard, long soft) {}
}
