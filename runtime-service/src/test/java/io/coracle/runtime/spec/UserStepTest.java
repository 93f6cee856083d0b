package io.coracle.runtime.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.coracle.cri.v1.ContainerConfig;
import io.coracle.cri.v1.ContainerMetadata;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.Int64Value;
import io.coracle.cri.v1.LinuxContainerConfig;
import io.coracle.cri.v1.LinuxContainerSecurityContext;
import io.coracle.cri.v1.NamespaceMode;
import io.coracle.cri.v1.NamespaceOption;
import io.coracle.cri.v1.UserNamespace;
import io.coracle.image.content.ImageConfig;
import io.coracle.oci.Process;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ids from the image's User, the CRI request and the image's /etc/passwd and /etc/group: only
 * 0..2^31-1, a numeric string is never a name, a malformed id is never read as 0 (root).
 */
class UserStepTest {
    static final long MAX = 2147483647L;

    @TempDir
    Path dir;
    Path layer;

    @BeforeEach
    void image() throws Exception {
        layer = Files.createDirectories(dir.resolve("layer/etc")).getParent();
        passwd("""
                root:x:0:0:root:/root:/bin/sh
                app:x:1000:1000::/home/app:/bin/sh
                top:x:2147483647:2147483647::/:/bin/sh
                """);
        group("""
                root:x:0:
                app:x:1000:
                extra:x:1234:app
                """);
    }

    private void passwd(String text) throws Exception {
        Files.writeString(layer.resolve("etc/passwd"), text);
    }

    private void group(String text) throws Exception {
        Files.writeString(layer.resolve("etc/group"), text);
    }

    private Process.User user(String imageUser, LinuxContainerSecurityContext.Builder sc) throws Exception {
        ContainerConfig config = ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName("c")).setImage(ImageSpec.newBuilder().setImage("img"))
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc)).build();
        ImageConfig.Settings image = new ImageConfig.Settings(imageUser, null, null, List.of("x"), null, null, null, null, null);
        PodContext pod = new PodContext("pod", "pod", null, null, null, null, false, "/p", null, null, null, null, "", "");
        SpecDraft draft = new SpecDraft();
        new UserStep().apply(new ContainerSpecInput("cid", config, image, pod, List.of(layer), dir.resolve("up"),
                dir.resolve("work"), "/p/cid", false), draft);
        return draft.user;
    }

    private Process.User imageUser(String imageUser) throws Exception {
        return user(imageUser, LinuxContainerSecurityContext.newBuilder());
    }

    private String refusedImageUser(String imageUser) {
        return assertThrows(InvalidContainerConfigException.class, () -> imageUser(imageUser)).getMessage();
    }

    private String refused(LinuxContainerSecurityContext.Builder sc) {
        return assertThrows(InvalidContainerConfigException.class, () -> user(null, sc)).getMessage();
    }

    private static Int64Value v(long value) {
        return Int64Value.newBuilder().setValue(value).build();
    }

    @Test
    void imageUserIdsInRangeRun() throws Exception {
        assertEquals(new Process.User(MAX, MAX, null, List.of(MAX)), imageUser("2147483647"));
        assertEquals(new Process.User(MAX, MAX, null, List.of(MAX)), imageUser("top"));
        assertEquals(new Process.User(5, 0, null, List.of(0L)), imageUser("5"));
        assertEquals(new Process.User(5, 7, null, List.of(7L)), imageUser("5:7"));
        assertEquals(new Process.User(1000, 1000, null, List.of(1000L, 1234L)), imageUser("0001000"));
        assertEquals(new Process.User(0, 0, null, List.of(0L)), imageUser(""));
        assertEquals(new Process.User(0, 0, null, List.of(0L)), imageUser(null));
        assertEquals(new Process.User(1000, 1234, null, List.of(1234L)), imageUser("app:extra"));
    }

    @Test
    void imageUserIdsOutOfRangeOrMalformedAreRefusedNeverLookedUp() {
        assertEquals("image config User '4294967296': user '4294967296' is out of range 0..2147483647",
                refusedImageUser("4294967296"));
        assertEquals("image config User '2147483648': user '2147483648' is out of range 0..2147483647",
                refusedImageUser("2147483648"));
        assertEquals("image config User '99999999999999999999': user '99999999999999999999' is out of range 0..2147483647",
                refusedImageUser("99999999999999999999"));
        assertEquals("image config User '-1': user '-1' is neither a decimal id in 0..2147483647 nor a name",
                refusedImageUser("-1"));
        for (String bad : List.of("+5", "0x10", "1e3", "-0", "5a")) {
            assertEquals("image config User '" + bad + "': user '" + bad + "' is neither a decimal id in 0..2147483647"
                    + " nor a name", refusedImageUser(bad));
        }
        assertEquals("image config User ' 5': user ' 5' is not a valid name (blank, control character, ':' or '/')",
                refusedImageUser(" 5"));
        assertEquals("image config User '5:4294967296': group '4294967296' is out of range 0..2147483647",
                refusedImageUser("5:4294967296"));
        assertEquals("image config User 'app:-1': group '-1' is neither a decimal id in 0..2147483647 nor a name",
                refusedImageUser("app:-1"));
        assertEquals("image config User '5:6:7': group '6:7' is neither a decimal id in 0..2147483647 nor a name",
                refusedImageUser("5:6:7"));
    }

    @Test
    void aPasswdEntryNamedLikeANumberIsNeverUsedForANumericUser() throws Exception {
        passwd("""
                4294967296:x:0:0::/:/bin/sh
                -1:x:0:0::/:/bin/sh
                1000:x:0:0::/:/bin/sh
                """);
        assertEquals("image config User '4294967296': user '4294967296' is out of range 0..2147483647",
                refusedImageUser("4294967296"));
        assertEquals("image config User '-1': user '-1' is neither a decimal id in 0..2147483647 nor a name",
                refusedImageUser("-1"));
        // "1000" is uid 1000, which no entry has: gid 0 as runc, never the entry named "1000".
        assertEquals(new Process.User(1000, 0, null, List.of(0L)), imageUser("1000"));
    }

    @Test
    void passwdAndGroupEntriesWithBadIdsAreRefusedWhenUsedNeverReadAsRoot() throws Exception {
        passwd("""
                big:x:4294967296:1000::/:/bin/sh
                neg:x:-1:1000::/:/bin/sh
                badgid:x:1001:4294967296::/:/bin/sh
                junkgid:x:1002:abc::/:/bin/sh
                plus:x:+5:1000::/:/bin/sh
                app:x:1000:1000::/home/app:/bin/sh
                """);
        group("""
                huge:x:99999999999999999999:app
                fine:x:1234:
                """);
        assertEquals("uid of user 'big' in the image's /etc/passwd is '4294967296', not a decimal id in 0..2147483647",
                refusedImageUser("big"));
        assertEquals("uid of user 'neg' in the image's /etc/passwd is '-1', not a decimal id in 0..2147483647",
                refusedImageUser("neg"));
        assertEquals("uid of user 'plus' in the image's /etc/passwd is '+5', not a decimal id in 0..2147483647",
                refusedImageUser("plus"));
        assertEquals("gid of user 'badgid' in the image's /etc/passwd is '4294967296', not a decimal id in 0..2147483647",
                refusedImageUser("badgid"));
        assertEquals("gid of user 'junkgid' in the image's /etc/passwd is 'abc', not a decimal id in 0..2147483647",
                refusedImageUser("junkgid"));
        // By uid too: the entry found for uid 1002 is the one used.
        assertEquals("gid of user 'junkgid' in the image's /etc/passwd is 'abc', not a decimal id in 0..2147483647",
                refusedImageUser("1002"));
        // app is a member of a group whose gid is out of range.
        assertEquals("gid of group 'huge' in the image's /etc/group is '99999999999999999999', not a decimal id in "
                + "0..2147483647", refusedImageUser("app"));
        // A bad entry not used is ignored.
        assertEquals(new Process.User(7, 1234, null, List.of(1234L)), imageUser("7:fine"));
    }

    @Test
    void requestIdsOutOfRangeAreRefusedNamingTheField() throws Exception {
        for (long bad : List.of(4294967296L, 2147483648L, -1L, Long.MAX_VALUE, Long.MIN_VALUE)) {
            assertEquals("run_as_user " + bad + " is out of range 0..2147483647",
                    refused(LinuxContainerSecurityContext.newBuilder().setRunAsUser(v(bad))));
            assertEquals("run_as_group " + bad + " is out of range 0..2147483647",
                    refused(LinuxContainerSecurityContext.newBuilder().setRunAsUser(v(5)).setRunAsGroup(v(bad))));
            assertEquals("supplemental_groups[1] " + bad + " is out of range 0..2147483647",
                    refused(LinuxContainerSecurityContext.newBuilder().addSupplementalGroups(5).addSupplementalGroups(bad)));
        }
        assertEquals(new Process.User(MAX, MAX, null, List.of(MAX)), user("4294967296",
                LinuxContainerSecurityContext.newBuilder().setRunAsUser(v(MAX)).setRunAsGroup(v(MAX))
                        .addSupplementalGroups(MAX)));
        assertEquals("run_as_username '-1' is neither a decimal id in 0..2147483647 nor a name",
                refused(LinuxContainerSecurityContext.newBuilder().setRunAsUsername("-1")));
        assertEquals("run_as_username '4294967296' is out of range 0..2147483647",
                refused(LinuxContainerSecurityContext.newBuilder().setRunAsUsername("4294967296")));
        assertEquals(new Process.User(1000, 1000, null, List.of(1000L, 1234L)),
                user(null, LinuxContainerSecurityContext.newBuilder().setRunAsUsername("app")));
    }

    @Test
    void aContainerJoinsItsPodsUserNamespaceOrIsRefused() throws Exception {
        io.coracle.cri.v1.IDMapping map = io.coracle.cri.v1.IDMapping.newBuilder().setHostId(65536 * 3).setLength(65536).build();
        UserNamespace podUserns = UserNamespace.newBuilder().setMode(NamespaceMode.POD).addUids(map).addGids(map).build();
        io.coracle.sandbox.PodUserNamespace maps = io.coracle.sandbox.PodUserNamespace.of("userns_options", podUserns);
        PodContext plain = new PodContext("pod", "pod", null, null, null, null, false, "/p", null, null, null, null, "", "");
        PodContext withUserns = new PodContext("pod", "pod", null, null, null, null, false, "/p", null, null, null, null, "",
                "", null, java.nio.file.Path.of("/proc/42/ns/user"), maps);
        // A pod in the node's user namespace takes no container asking for one of its own.
        assertEquals("namespace_options.userns_options: mode POD: the pod has no user namespace (its userns_options differ)",
                namespaceRefused(plain, podUserns));
        // A container of a user-namespaced pod joins it, with its maps in the spec for the shim to check.
        SpecDraft spec = new SpecDraft();
        new NamespaceStep().apply(nsInput(withUserns, podUserns), spec);
        assertTrue(spec.namespaces.contains(new io.coracle.oci.Linux.Namespace("user", "/proc/42/ns/user")));
        assertEquals(List.of(new io.coracle.oci.Linux.IdMapping(0, 65536 * 3, 65536)), spec.uidMappings);
        assertEquals(spec.uidMappings, spec.gidMappings);
        // On the runc handler the same: runc joins by path and needs the maps even then.
        PodContext onRunc = new PodContext("pod", "pod", null, null, null, null, false, "/p", null, null, null, null, "",
                "runc", null, java.nio.file.Path.of("/proc/42/ns/user"), maps);
        SpecDraft runc = new SpecDraft();
        new NamespaceStep().apply(nsInput(onRunc, podUserns), runc);
        assertEquals(spec.namespaces, runc.namespaces);
        assertEquals(spec.uidMappings, runc.uidMappings);
        assertEquals(spec.gidMappings, runc.gidMappings);
        SpecDraft none = new SpecDraft();
        new NamespaceStep().apply(nsInput(withUserns, null), none); // no userns_options: still the pod's
        assertEquals(spec.uidMappings, none.uidMappings);
        // Any other mapping or mode is refused: a container never leaves its pod's user namespace.
        io.coracle.cri.v1.IDMapping other = map.toBuilder().setHostId(65536 * 4).build();
        for (UserNamespace u : List.of(podUserns.toBuilder().setUids(0, other).build(),
                podUserns.toBuilder().setGids(0, other).build(), podUserns.toBuilder().addUids(other).build(),
                UserNamespace.newBuilder().setMode(NamespaceMode.NODE).build(),
                UserNamespace.newBuilder().setMode(NamespaceMode.CONTAINER).build())) {
            assertTrue(namespaceRefused(withUserns, u).contains("not the pod's"), u.toString());
        }
    }

    private ContainerSpecInput nsInput(PodContext pod, UserNamespace userns) {
        LinuxContainerSecurityContext.Builder sc = LinuxContainerSecurityContext.newBuilder();
        if (userns != null) {
            sc.setNamespaceOptions(NamespaceOption.newBuilder().setUsernsOptions(userns));
        }
        ContainerConfig config = ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName("c")).setImage(ImageSpec.newBuilder().setImage("img"))
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc)).build();
        return new ContainerSpecInput("cid", config, new ImageConfig.Settings(null, null, null,
                List.of("x"), null, null, null, null, null), pod, List.of(layer), dir, dir, "/p/cid", false);
    }

    private String namespaceRefused(PodContext pod, UserNamespace userns) {
        return assertThrows(InvalidContainerConfigException.class,
                () -> new NamespaceStep().apply(nsInput(pod, userns), new SpecDraft())).getMessage();
    }

    @Test
    void theHostsPasswdIsNeverUsedThroughAnEtcLink() throws Exception {
        // The image's etc is a link to /etc: on the host that is the host's passwd (with root, daemon...).
        Path linked = Files.createDirectories(dir.resolve("linked"));
        Files.createSymbolicLink(linked.resolve("etc"), Path.of("/etc"));
        layer = linked;
        InvalidContainerConfigException e = assertThrows(InvalidContainerConfigException.class, () -> imageUser("root"));
        assertEquals("the image's /etc/passwd: more than 40 symbolic links", e.getMessage());
        // etc -> a host directory that exists only on the host: no passwd in the image.
        Path host = Files.createDirectories(dir.resolve("host-etc"));
        Files.writeString(host.resolve("passwd"), "hostonly:x:0:0::/:/bin/sh\n");
        Path toHost = Files.createDirectories(dir.resolve("tohost"));
        Files.createSymbolicLink(toHost.resolve("etc"), host);
        layer = toHost;
        assertEquals("user 'hostonly' is not in the image's /etc/passwd", refusedImageUser("hostonly"));
    }
}
