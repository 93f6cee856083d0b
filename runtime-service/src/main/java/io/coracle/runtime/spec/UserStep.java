package io.coracle.runtime.spec;

import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.oci.Ids;
import io.coracle.oci.Process;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The process user: run_as_user / run_as_username / run_as_group, else the image's User, with names
 * resolved through the image's /etc/passwd and /etc/group (read inside the image root), and supplemental
 * groups from both (supplemental_groups_policy Merge, the default) or from the request only (Strict). Every id, from the request, the image config or those files, must lie in
 * {@link Ids#RANGE}; a numeric string is an id, never a name; an entry whose id fields are malformed
 * is refused when it is the one used, never read as 0.
 */
public final class UserStep implements SpecStep {
    /** The kernel's limit on a process's supplementary groups. */
    static final int NGROUPS_MAX = 65536;

    @Override
    public void apply(ContainerSpecInput in, SpecDraft spec) throws InvalidContainerConfigException {
        LinuxContainerSecurityContext sc = in.config().getLinux().getSecurityContext();
        if (sc.hasRunAsGroup() && !sc.hasRunAsUser() && sc.getRunAsUsername().isEmpty()) {
            throw new InvalidContainerConfigException("run_as_group is set without run_as_user or run_as_username");
        }
        if (sc.hasRunAsUser()) {
            checkRange("run_as_user", sc.getRunAsUser().getValue());
        }
        if (sc.hasRunAsGroup()) {
            checkRange("run_as_group", sc.getRunAsGroup().getValue());
        }
        for (int i = 0; i < sc.getSupplementalGroupsCount(); i++) {
            checkRange("supplemental_groups[" + i + "]", sc.getSupplementalGroups(i));
        }

        Ids.Ref user;
        Ids.Ref group = null;
        if (sc.hasRunAsUser()) {
            user = new Ids.Id(Long.toString(sc.getRunAsUser().getValue()), sc.getRunAsUser().getValue());
        } else if (!sc.getRunAsUsername().isEmpty()) {
            user = Ids.parse(sc.getRunAsUsername());
            if (user instanceof Ids.Invalid bad) {
                throw new InvalidContainerConfigException("run_as_username '" + bad.text() + "' " + bad.reason());
            }
        } else {
            String image = in.image().user() == null ? "" : in.image().user();
            int colon = image.indexOf(':');
            String userPart = colon < 0 ? image : image.substring(0, colon);
            String groupPart = colon < 0 ? "" : image.substring(colon + 1);
            user = userPart.isEmpty() ? new Ids.Id("0", 0) : Ids.parse(userPart);
            if (user instanceof Ids.Invalid bad) {
                throw new InvalidContainerConfigException("image config User '" + image + "': user '" + bad.text()
                        + "' " + bad.reason());
            }
            if (!groupPart.isEmpty()) {
                group = Ids.parse(groupPart);
                if (group instanceof Ids.Invalid bad) {
                    throw new InvalidContainerConfigException("image config User '" + image + "': group '" + bad.text()
                            + "' " + bad.reason());
                }
            }
        }

        ImageRootFiles files = new ImageRootFiles(in.lowerDirs());
        List<String[]> passwd = table(files.read("/etc/passwd"));
        List<String[]> groups = table(files.read("/etc/group"));

        long uid;
        long gid = 0; // as runc: a uid the image does not list runs with gid 0
        String userName = null;
        switch (user) {
            case Ids.Id id -> {
                uid = id.value();
                for (String[] p : passwd) {
                    if (p.length > 3 && Ids.parse(p[2]) instanceof Ids.Id listed && listed.value() == uid) {
                        userName = p[0];
                        gid = fileId(p[3], "gid of user '" + p[0] + "' in the image's /etc/passwd");
                        break;
                    }
                }
            }
            case Ids.Name name -> {
                String[] entry = passwd.stream().filter(p -> p.length > 3 && p[0].equals(name.text())).findFirst()
                        .orElseThrow(() -> new InvalidContainerConfigException("user '" + name.text()
                                + "' is not in the image's /etc/passwd"));
                uid = fileId(entry[2], "uid of user '" + entry[0] + "' in the image's /etc/passwd");
                gid = fileId(entry[3], "gid of user '" + entry[0] + "' in the image's /etc/passwd");
                userName = entry[0];
            }
            case Ids.Invalid bad -> throw new IllegalStateException("checked above: " + bad);
        }
        if (sc.hasRunAsGroup()) {
            gid = sc.getRunAsGroup().getValue();
        } else if (group instanceof Ids.Id id) {
            gid = id.value();
        } else if (group instanceof Ids.Name name) {
            String[] entry = groups.stream().filter(e -> e.length > 2 && e[0].equals(name.text())).findFirst()
                    .orElseThrow(() -> new InvalidContainerConfigException("group '" + name.text()
                            + "' is not in the image's /etc/group"));
            gid = fileId(entry[2], "gid of group '" + entry[0] + "' in the image's /etc/group");
        }

        // The primary group comes first, as Docker and containerd list it among the process's groups.
        Set<Long> additional = new LinkedHashSet<>();
        additional.add(gid);
        // Strict: only the primary group and the requested ones, none from the image's /etc/group.
        boolean strict = sc.getSupplementalGroupsPolicy() == io.coracle.cri.v1.SupplementalGroupsPolicy.Strict;
        if (sc.getSupplementalGroupsPolicy() == io.coracle.cri.v1.SupplementalGroupsPolicy.UNRECOGNIZED) {
            throw new InvalidContainerConfigException("supplemental_groups_policy: unknown policy "
                    + sc.getSupplementalGroupsPolicyValue());
        }
        if (userName != null && !strict) {
            for (String[] g : groups) {
                if (g.length > 3 && List.of(g[3].split(",")).contains(userName)) {
                    additional.add(fileId(g[2], "gid of group '" + g[0] + "' in the image's /etc/group"));
                }
            }
        }
        additional.addAll(sc.getSupplementalGroupsList());
        if (additional.size() > NGROUPS_MAX) {
            throw new InvalidContainerConfigException("the user is in " + additional.size() + " groups (the image's"
                    + " /etc/group and supplemental_groups), more than the kernel's " + NGROUPS_MAX);
        }
        spec.user = new Process.User(uid, gid, null, new ArrayList<>(additional));
    }

    private static void checkRange(String field, long id) throws InvalidContainerConfigException {
        if (!Ids.valid(id)) {
            throw new InvalidContainerConfigException(Ids.outOfRange(field, id));
        }
    }

    /** An id field of /etc/passwd or /etc/group: a plain decimal in range, or the entry is refused. */
    private static long fileId(String field, String what) throws InvalidContainerConfigException {
        if (Ids.parse(field) instanceof Ids.Id id) {
            return id.value();
        }
        throw new InvalidContainerConfigException(what + " is '" + field + "', not a decimal id in " + Ids.RANGE);
    }

    private static List<String[]> table(Optional<String> text) {
        List<String[]> rows = new ArrayList<>();
        text.ifPresent(t -> t.lines().filter(l -> !l.isBlank() && !l.startsWith("#"))
                .forEach(l -> rows.add(l.split(":", -1))));
        return rows;
    }
}
