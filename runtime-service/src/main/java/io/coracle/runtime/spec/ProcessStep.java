package io.coracle.runtime.spec;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.KeyValue;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The command, environment, working directory and terminal, merged from the CRI config and the image as the kubelet expects. */
public final class ProcessStep implements SpecStep {
    static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        ContainerConfig c = in.config();
        List<String> entrypoint = orEmpty(in.image().entrypoint());
        List<String> cmd = orEmpty(in.image().cmd());
        List<String> args = new ArrayList<>();
        // command replaces the image's Entrypoint (and drops its Cmd); args replace Cmd.
        if (!c.getCommandList().isEmpty()) {
            args.addAll(c.getCommandList());
            args.addAll(c.getArgsList());
        } else {
            args.addAll(entrypoint);
            args.addAll(c.getArgsList().isEmpty() ? cmd : c.getArgsList());
        }
        if (args.isEmpty() || args.get(0).isEmpty()) {
            throw new InvalidContainerConfigException("no command: the container config has no command or args "
                    + "and the image has no Entrypoint or Cmd");
        }
        spec.args = args;

        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", DEFAULT_PATH);
        if (in.pod().hostname() != null && !in.pod().hostname().isEmpty()) {
            env.put("HOSTNAME", in.pod().hostname());
        }
        for (String e : orEmpty(in.image().env())) {
            int eq = e.indexOf('=');
            env.put(eq < 0 ? e : e.substring(0, eq), eq < 0 ? "" : e.substring(eq + 1));
        }
        for (KeyValue kv : c.getEnvsList()) {
            if (kv.getKey().isEmpty()) {
                throw new InvalidContainerConfigException("envs: an entry has an empty key");
            }
            env.put(kv.getKey(), kv.getValue().toString(StandardCharsets.UTF_8));
        }
        spec.env = new ArrayList<>();
        env.forEach((k, v) -> spec.env.add(k + "=" + v));

        String cwd = !c.getWorkingDir().isEmpty() ? c.getWorkingDir()
                : in.image().workingDir() != null && !in.image().workingDir().isEmpty() ? in.image().workingDir() : "/";
        if (!cwd.startsWith("/")) {
            throw new InvalidContainerConfigException("working_dir '" + cwd + "' is not an absolute path");
        }
        spec.cwd = cwd;
        spec.terminal = c.getTty();
    }

    private static List<String> orEmpty(List<String> list) {
        return list == null ? List.of() : list;
    }
}
