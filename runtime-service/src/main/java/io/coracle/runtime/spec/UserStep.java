package io.coracle.runtime.spec;

import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.oci.Process;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The process user: run_as_user / run_as_username / run_as_group, else the image's User, with names
 * resolved through the image's /etc/passwd and /etc/group, and supplemental groups from both.
 */
public final class UserStep implements SpecStep {

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        LinuxContainerSecurityContext sc = in.config().getLinux().getSecurityContext();
        if (sc.hasRunAsGroup() && !sc.hasRunAsUser() && sc.getRunAsUsername().isEmpty()) {
            throw new InvalidContainerConfigException("run_as_group is set without run_as_user or run_as_username");
        }
        ImageRootFiles files = new ImageRootFiles(in.lowerDirs());
        String userPart;
        String groupPart = null;
        if (sc.hasRunAsUser()) {
            if (sc.getRunAsUser().getValue() < 0) {
                throw new InvalidContainerConfigException("run_as_user " + sc.getRunAsUser().getValue() + " is negative");
            }
            userPart = Long.toString(sc.getRunAsUser().getValue());
        } else if (!sc.getRunAsUsername().isEmpty()) {
            userPart = sc.getRunAsUsername();
        } else {
            String image = in.image().user() == null ? "" : in.image().user();
            int colon = image.indexOf(':');
            userPart = colon < 0 ? image : image.substring(0, colon);
            groupPart = colon < 0 ? null : image.substring(colon + 1);
            if (userPart.isEmpty()) {
                userPart = "0";
            }
        }
        List<String[]> passwd = table(files.read("/etc/passwd"));
        List<String[]> group = table(files.read("/etc/group"));

        long uid;
        long gid = 0;
        String userName = null;
        if (userPart.chars().allMatch(Character::isDigit)) {
            uid = Long.parseLong(userPart);
            for (String[] p : passwd) {
                if (p.length > 3 && p[2].equals(userPart)) {
                    userName = p[0];
                    gid = parseId(p[3], gid);
                    break;
                }
            }
        } else {
            String name = userPart;
            String[] entry = passwd.stream().filter(p -> p.length > 3 && p[0].equals(name)).findFirst()
                    .orElseThrow(() -> new InvalidContainerConfigException("user '" + name
                            + "' is not in the image's /etc/passwd"));
            uid = parseId(entry[2], -1);
            gid = parseId(entry[3], 0);
            userName = userPart;
        }
        if (sc.hasRunAsGroup()) {
            gid = sc.getRunAsGroup().getValue();
        } else if (groupPart != null && !groupPart.isEmpty()) {
            if (groupPart.chars().allMatch(Character::isDigit)) {
                gid = Long.parseLong(groupPart);
            } else {
                String g = groupPart;
                String[] entry = group.stream().filter(e -> e.length > 2 && e[0].equals(g)).findFirst()
                        .orElseThrow(() -> new InvalidContainerConfigException("group '" + g
                                + "' is not in the image's /etc/group"));
                gid = parseId(entry[2], 0);
            }
        }

        // The primary group comes first, as Docker and containerd list it among the process's groups.
        Set<Long> additional = new LinkedHashSet<>();
        additional.add(gid);
        if (userName != null) {
            for (String[] g : group) {
                if (g.length > 3 && List.of(g[3].split(",")).contains(userName)) {
                    additional.add(parseId(g[2], 0));
                }
            }
        }
        additional.addAll(in.config().getLinux().getSecurityContext().getSupplementalGroupsList());
        spec.user = new Process.User(uid, gid, null, new ArrayList<>(additional));
    }

    private static long parseId(String s, long fallback) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    private static List<String[]> table(Optional<String> text) {
        List<String[]> rows = new ArrayList<>();
        text.ifPresent(t -> t.lines().filter(l -> !l.isBlank() && !l.startsWith("#"))
                .forEach(l -> rows.add(l.split(":", -1))));
        return rows;
    }
}
