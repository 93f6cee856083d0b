package io.coracle.runtime.spec;

import io.coracle.oci.OciJson;
import io.coracle.oci.Seccomp;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The RuntimeDefault profile, {@code seccomp/runtime-default.json} on the classpath (moby's default
 * profile's syscalls and conditions; see the README next to it): read once, immutable, and narrowed
 * per container to the entries its capabilities and the host's architecture select.
 */
public final class RuntimeDefaultSeccomp {
    /** A moby-style condition: capabilities and architectures (Go names, e.g. amd64). */
    public record Condition(List<String> caps, List<String> arches) {}

    public record Entry(List<String> names, String action, Integer errnoRet, List<Seccomp.Arg> args,
                        Condition includes, Condition excludes, String comment) {}

    public record Profile(String source, String defaultAction, Integer defaultErrnoRet,
                          Map<String, List<String>> archMap, List<Entry> syscalls) {}

    private static final Profile PROFILE = read();

    /** This host's architecture as the profile names it. */
    static final String HOST_ARCH = switch (System.getProperty("os.arch")) {
        case "amd64", "x86_64" -> "amd64";
        case "aarch64", "arm64" -> "arm64";
        default -> System.getProperty("os.arch");
    };

    private RuntimeDefaultSeccomp() {
    }

    private static Profile read() {
        try (InputStream in = RuntimeDefaultSeccomp.class.getResourceAsStream("/seccomp/runtime-default.json")) {
            if (in == null) {
                throw new IllegalStateException("seccomp/runtime-default.json is missing from the classpath");
            }
            Profile p = OciJson.MAPPER.readValue(in.readNBytes(1 << 20), Profile.class);
            List<Entry> entries = new ArrayList<>();
            for (Entry e : p.syscalls()) {
                if (e.names() == null || e.names().isEmpty() || !SeccompProfiles.ACTIONS.contains(e.action())) {
                    throw new IllegalStateException("seccomp/runtime-default.json: an entry without names or action");
                }
                entries.add(new Entry(List.copyOf(e.names()), e.action(), e.errnoRet(),
                        e.args() == null ? null : List.copyOf(e.args()), frozen(e.includes()), frozen(e.excludes()),
                        e.comment()));
            }
            Map<String, List<String>> archMap = new HashMap<>();
            p.archMap().forEach((arch, scmp) -> archMap.put(arch, List.copyOf(scmp)));
            return new Profile(p.source(), p.defaultAction(), p.defaultErrnoRet(), Map.copyOf(archMap),
                    List.copyOf(entries));
        } catch (IOException e) {
            throw new UncheckedIOException("seccomp/runtime-default.json", e);
        }
    }

    private static Condition frozen(Condition c) {
        return c == null ? null : new Condition(c.caps() == null ? null : List.copyOf(c.caps()),
                c.arches() == null ? null : List.copyOf(c.arches()));
    }

    /** The whole profile, as read (immutable). */
    public static Profile profile() {
        return PROFILE;
    }

    /** The profile for a container holding {@code capabilities} on an {@code arch} host. */
    public static Seccomp forContainer(Collection<String> capabilities, String arch) {
        Set<String> caps = Set.copyOf(capabilities);
        List<Seccomp.Syscall> rules = new ArrayList<>();
        for (Entry e : PROFILE.syscalls()) {
            if (holds(e.includes(), caps, arch, true) && !holds(e.excludes(), caps, arch, false)) {
                rules.add(new Seccomp.Syscall(e.names(), e.action(), e.errnoRet(), e.args()));
            }
        }
        return new Seccomp(PROFILE.defaultAction(), PROFILE.defaultErrnoRet(),
                PROFILE.archMap().getOrDefault(arch, List.of()), List.copyOf(rules));
    }

    public static Seccomp forContainer(Collection<String> capabilities) {
        return forContainer(capabilities, HOST_ARCH);
    }

    /**
     * includes ({@code all} true): every listed cap held and the arch listed; excludes: any listed
     * cap held or the arch listed. An absent condition includes everything and excludes nothing.
     */
    private static boolean holds(Condition c, Set<String> caps, String arch, boolean all) {
        if (c == null) {
            return all;
        }
        boolean capsListed = c.caps() != null && !c.caps().isEmpty();
        boolean archesListed = c.arches() != null && !c.arches().isEmpty();
        if (all) {
            return (!capsListed || caps.containsAll(c.caps())) && (!archesListed || c.arches().contains(arch));
        }
        return capsListed && c.caps().stream().anyMatch(caps::contains) || archesListed && c.arches().contains(arch);
    }
}
