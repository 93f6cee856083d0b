package io.coracle.cri.v1;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.WireFormat;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.MethodType;
import io.grpc.ServiceDescriptor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Guards wire compatibility of our runtime.v1 schema with the kubelet's (kubernetes/cri-api v0.36.3).
 *
 * <p>Every payload below is encoded by hand from the field numbers and wire types upstream assigns,
 * without using our generated builders, and then parsed with our generated classes. A renumbered or
 * retyped field shows up either as a wrong value or as an unknown field.
 */
class WireCompatibilityTest {

    // ---------------------------------------------------------------------------------------
    // Hand-encoding helpers: each writes the tag (field number + wire type) explicitly.
    // ---------------------------------------------------------------------------------------

    @FunctionalInterface
    private interface Body {
        void write(CodedOutputStream out) throws IOException;
    }

    private static byte[] encode(Body body) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        body.write(out);
        out.flush();
        return bytes.toByteArray();
    }

    private static void string(CodedOutputStream out, int field, String value) throws IOException {
        bytes(out, field, value.getBytes(StandardCharsets.UTF_8));
    }

    private static void bytes(CodedOutputStream out, int field, byte[] value) throws IOException {
        out.writeTag(field, WireFormat.WIRETYPE_LENGTH_DELIMITED);
        out.writeUInt32NoTag(value.length);
        out.writeRawBytes(value);
    }

    private static void message(CodedOutputStream out, int field, Body body) throws IOException {
        bytes(out, field, encode(body));
    }

    /** A map<string,string> entry: key = 1, value = 2 inside a length-delimited entry message. */
    private static void mapEntry(CodedOutputStream out, int field, String key, String value)
            throws IOException {
        message(out, field, e -> {
            string(e, 1, key);
            string(e, 2, value);
        });
    }

    /** Any varint-typed scalar (bool, enum, int32, int64, uint32, uint64). */
    private static void varint(CodedOutputStream out, int field, long value) throws IOException {
        out.writeTag(field, WireFormat.WIRETYPE_VARINT);
        out.writeUInt64NoTag(value);
    }

    private static void packedVarints(CodedOutputStream out, int field, long... values)
            throws IOException {
        bytes(out, field, encode(p -> {
            for (long v : values) {
                p.writeUInt64NoTag(v);
            }
        }));
    }

    private static void assertNoUnknownFields(com.google.protobuf.Message message) {
        assertTrue(message.getUnknownFields().asMap().isEmpty(),
                () -> message.getDescriptorForType().getFullName() + " has unknown fields: "
                        + message.getUnknownFields());
    }

    // ---------------------------------------------------------------------------------------
    // Version
    // ---------------------------------------------------------------------------------------

    @Test
    void versionRequestAndResponse() throws Exception {
        VersionRequest request = VersionRequest.parseFrom(encode(out -> string(out, 1, "v1")));
        assertEquals("v1", request.getVersion());
        assertNoUnknownFields(request);

        VersionResponse response = VersionResponse.parseFrom(encode(out -> {
            string(out, 1, "0.1.0");
            string(out, 2, "coracle");
            string(out, 3, "0.1.0-SNAPSHOT");
            string(out, 4, "v1");
        }));
        assertEquals("0.1.0", response.getVersion());
        assertEquals("coracle", response.getRuntimeName());
        assertEquals("0.1.0-SNAPSHOT", response.getRuntimeVersion());
        assertEquals("v1", response.getRuntimeApiVersion());
        assertNoUnknownFields(response);
    }

    // ---------------------------------------------------------------------------------------
    // PodSandboxConfig
    // ---------------------------------------------------------------------------------------

    @Test
    void podSandboxConfig() throws Exception {
        byte[] wire = encode(out -> {
            // metadata = 1 -> PodSandboxMetadata
            message(out, 1, m -> {
                string(m, 1, "web-0");          // name
                string(m, 2, "0f6c-uid");       // uid
                string(m, 3, "default");        // namespace
                varint(m, 4, 3);                // attempt (uint32)
            });
            string(out, 2, "web-0");                          // hostname
            string(out, 3, "/var/log/pods/default_web-0_0f6c-uid"); // log_directory
            // dns_config = 4 -> DNSConfig
            message(out, 4, d -> {
                string(d, 1, "10.96.0.10");     // servers
                string(d, 2, "svc.cluster.local"); // searches
                string(d, 3, "ndots:5");        // options
            });
            // port_mappings = 5 -> PortMapping
            message(out, 5, p -> {
                varint(p, 1, 1);                // protocol = UDP
                varint(p, 2, 53);               // container_port
                varint(p, 3, 5353);             // host_port
                string(p, 4, "127.0.0.1");      // host_ip
            });
            mapEntry(out, 6, "app", "web");     // labels
            mapEntry(out, 6, "tier", "frontend");
            mapEntry(out, 7, "note", "hello");  // annotations
            // linux = 8 -> LinuxPodSandboxConfig
            message(out, 8, l -> {
                string(l, 1, "/kubepods/besteffort/pod0f6c"); // cgroup_parent
                // security_context = 2 -> LinuxSandboxSecurityContext
                message(l, 2, sc -> {
                    // namespace_options = 1 -> NamespaceOption
                    message(sc, 1, ns -> {
                        varint(ns, 1, 2);       // network = NODE
                        varint(ns, 2, 1);       // pid = CONTAINER
                        varint(ns, 3, 0);       // ipc = POD (explicit zero)
                        string(ns, 4, "");      // target_id
                        // userns_options = 5 -> UserNamespace
                        message(ns, 5, u -> {
                            varint(u, 1, 0);    // mode = POD
                            message(u, 2, id -> { // uids -> IDMapping
                                varint(id, 1, 100000); // host_id
                                varint(id, 2, 0);      // container_id
                                varint(id, 3, 65536);  // length
                            });
                            message(u, 3, id -> { // gids
                                varint(id, 1, 200000);
                                varint(id, 2, 0);
                                varint(id, 3, 65536);
                            });
                        });
                    });
                    message(sc, 3, v -> varint(v, 1, 1000)); // run_as_user.value
                    message(sc, 8, v -> varint(v, 1, 2000)); // run_as_group.value
                    varint(sc, 4, 1);                        // readonly_rootfs
                    packedVarints(sc, 5, 4, 27);             // supplemental_groups
                    varint(sc, 11, 1);                       // supplemental_groups_policy = Strict
                    varint(sc, 6, 1);                        // privileged
                    message(sc, 9, s -> varint(s, 1, 0));    // seccomp: RuntimeDefault
                    message(sc, 10, s -> {                   // apparmor: Localhost
                        varint(s, 1, 2);
                        string(s, 2, "k8s-profile");
                    });
                });
                mapEntry(l, 3, "net.ipv4.ip_forward", "1"); // sysctls
            });
        });

        PodSandboxConfig config = PodSandboxConfig.parseFrom(wire);
        assertNoUnknownFields(config);

        PodSandboxMetadata md = config.getMetadata();
        assertEquals("web-0", md.getName());
        assertEquals("0f6c-uid", md.getUid());
        assertEquals("default", md.getNamespace());
        assertEquals(3, md.getAttempt());
        assertNoUnknownFields(md);

        assertEquals("web-0", config.getHostname());
        assertEquals("/var/log/pods/default_web-0_0f6c-uid", config.getLogDirectory());
        assertEquals(List.of("10.96.0.10"), config.getDnsConfig().getServersList());
        assertEquals(List.of("svc.cluster.local"), config.getDnsConfig().getSearchesList());
        assertEquals(List.of("ndots:5"), config.getDnsConfig().getOptionsList());

        PortMapping pm = config.getPortMappings(0);
        assertEquals(Protocol.UDP, pm.getProtocol());
        assertEquals(53, pm.getContainerPort());
        assertEquals(5353, pm.getHostPort());
        assertEquals("127.0.0.1", pm.getHostIp());

        assertEquals(Map.of("app", "web", "tier", "frontend"), config.getLabelsMap());
        assertEquals(Map.of("note", "hello"), config.getAnnotationsMap());

        LinuxPodSandboxConfig linux = config.getLinux();
        assertEquals("/kubepods/besteffort/pod0f6c", linux.getCgroupParent());
        assertEquals(Map.of("net.ipv4.ip_forward", "1"), linux.getSysctlsMap());

        LinuxSandboxSecurityContext sc = linux.getSecurityContext();
        assertNoUnknownFields(sc);
        NamespaceOption ns = sc.getNamespaceOptions();
        assertEquals(NamespaceMode.NODE, ns.getNetwork());
        assertEquals(NamespaceMode.CONTAINER, ns.getPid());
        assertEquals(NamespaceMode.POD, ns.getIpc());
        assertEquals("", ns.getTargetId());
        assertTrue(ns.hasUsernsOptions());
        UserNamespace userns = ns.getUsernsOptions();
        assertEquals(NamespaceMode.POD, userns.getMode());
        assertEquals(100000, userns.getUids(0).getHostId());
        assertEquals(0, userns.getUids(0).getContainerId());
        assertEquals(65536, userns.getUids(0).getLength());
        assertEquals(200000, userns.getGids(0).getHostId());

        assertEquals(1000, sc.getRunAsUser().getValue());
        assertEquals(2000, sc.getRunAsGroup().getValue());
        assertTrue(sc.getReadonlyRootfs());
        assertEquals(List.of(4L, 27L), sc.getSupplementalGroupsList());
        assertEquals(SupplementalGroupsPolicy.Strict, sc.getSupplementalGroupsPolicy());
        assertTrue(sc.getPrivileged());
        assertTrue(sc.hasSeccomp());
        assertEquals(SecurityProfile.ProfileType.RuntimeDefault, sc.getSeccomp().getProfileType());
        assertEquals(SecurityProfile.ProfileType.Localhost, sc.getApparmor().getProfileType());
        assertEquals("k8s-profile", sc.getApparmor().getLocalhostRef());
    }

    // ---------------------------------------------------------------------------------------
    // ContainerConfig
    // ---------------------------------------------------------------------------------------

    @Test
    void containerConfig() throws Exception {
        byte[] wire = encode(out -> {
            message(out, 1, m -> {                    // metadata -> ContainerMetadata
                string(m, 1, "nginx");                // name
                varint(m, 2, 4);                      // attempt
            });
            message(out, 2, i -> {                    // image -> ImageSpec
                string(i, 1, "docker.io/library/nginx:1.27");
                mapEntry(i, 2, "k", "v");             // annotations
                string(i, 18, "nginx:1.27");          // user_specified_image
                string(i, 19, "runc");                // runtime_handler
                string(i, 20, "sha256:abc");          // image_ref
            });
            string(out, 3, "/docker-entrypoint.sh");  // command
            string(out, 3, "nginx");
            string(out, 4, "-g");                     // args
            string(out, 4, "daemon off;");
            string(out, 5, "/usr/share/nginx");       // working_dir
            message(out, 6, kv -> {                   // envs -> KeyValue
                string(kv, 1, "PATH");
                bytes(kv, 2, "/usr/bin:/bin".getBytes(StandardCharsets.UTF_8));
            });
            message(out, 7, mt -> {                   // mounts -> Mount
                string(mt, 1, "/data");               // container_path
                string(mt, 2, "/srv/data");           // host_path
                varint(mt, 3, 1);                     // readonly
                varint(mt, 4, 1);                     // selinux_relabel
                varint(mt, 5, 1);                     // propagation = HOST_TO_CONTAINER
                message(mt, 6, id -> varint(id, 3, 10)); // uidMappings.length
                message(mt, 7, id -> varint(id, 3, 20)); // gidMappings.length
                varint(mt, 8, 1);                     // recursive_read_only
                message(mt, 9, img -> string(img, 1, "quay.io/x/data:1")); // image
                string(mt, 10, "sub");                // image_sub_path
            });
            message(out, 8, dv -> {                   // devices -> Device
                string(dv, 1, "/dev/fuse");
                string(dv, 2, "/dev/fuse");
                string(dv, 3, "rwm");
            });
            mapEntry(out, 9, "io.kubernetes.container.name", "nginx"); // labels
            mapEntry(out, 10, "restart", "0");        // annotations
            string(out, 11, "nginx/4.log");           // log_path
            varint(out, 12, 1);                       // stdin
            varint(out, 13, 1);                       // stdin_once
            varint(out, 14, 1);                       // tty
            message(out, 15, l -> {                   // linux -> LinuxContainerConfig
                message(l, 1, r -> {                  // resources -> LinuxContainerResources
                    varint(r, 1, 100000);             // cpu_period
                    varint(r, 2, 50000);              // cpu_quota
                    varint(r, 3, 512);                // cpu_shares
                    varint(r, 4, 268435456);          // memory_limit_in_bytes
                    varint(r, 5, -997);               // oom_score_adj (negative int64)
                    string(r, 6, "0-1");              // cpuset_cpus
                    string(r, 7, "0");                // cpuset_mems
                    message(r, 8, h -> {              // hugepage_limits
                        string(h, 1, "2MB");
                        varint(h, 2, 4194304);
                    });
                    mapEntry(r, 9, "memory.high", "max"); // unified
                    varint(r, 10, 536870912);         // memory_swap_limit_in_bytes
                });
                message(l, 2, sc -> {                 // security_context
                    message(sc, 1, c -> {             // capabilities
                        string(c, 1, "NET_ADMIN");
                        string(c, 2, "ALL");
                        string(c, 3, "NET_BIND_SERVICE");
                    });
                    message(sc, 3, ns -> varint(ns, 2, 3)); // namespace_options.pid = TARGET
                    string(sc, 6, "nginx");           // run_as_username
                    varint(sc, 11, 1);                // no_new_privs
                    string(sc, 13, "/proc/kcore");    // masked_paths
                    string(sc, 14, "/proc/sys");      // readonly_paths
                    varint(sc, 17, 1);                // supplemental_groups_policy = Strict
                });
            });
            message(out, 17, cdi -> string(cdi, 1, "vendor.com/gpu=0")); // CDI_devices
            varint(out, 18, 23);                      // stop_signal = SIGTERM
        });

        ContainerConfig cc = ContainerConfig.parseFrom(wire);
        assertNoUnknownFields(cc);
        assertEquals("nginx", cc.getMetadata().getName());
        assertEquals(4, cc.getMetadata().getAttempt());

        ImageSpec image = cc.getImage();
        assertNoUnknownFields(image);
        assertEquals("docker.io/library/nginx:1.27", image.getImage());
        assertEquals(Map.of("k", "v"), image.getAnnotationsMap());
        assertEquals("nginx:1.27", image.getUserSpecifiedImage());
        assertEquals("runc", image.getRuntimeHandler());
        assertEquals("sha256:abc", image.getImageRef());

        assertEquals(List.of("/docker-entrypoint.sh", "nginx"), cc.getCommandList());
        assertEquals(List.of("-g", "daemon off;"), cc.getArgsList());
        assertEquals("/usr/share/nginx", cc.getWorkingDir());
        assertEquals("PATH", cc.getEnvs(0).getKey());
        assertEquals(ByteString.copyFromUtf8("/usr/bin:/bin"), cc.getEnvs(0).getValue());

        Mount mount = cc.getMounts(0);
        assertNoUnknownFields(mount);
        assertEquals("/data", mount.getContainerPath());
        assertEquals("/srv/data", mount.getHostPath());
        assertTrue(mount.getReadonly());
        assertTrue(mount.getSelinuxRelabel());
        assertEquals(MountPropagation.PROPAGATION_HOST_TO_CONTAINER, mount.getPropagation());
        assertEquals(10, mount.getUidMappings(0).getLength());
        assertEquals(20, mount.getGidMappings(0).getLength());
        assertTrue(mount.getRecursiveReadOnly());
        assertEquals("quay.io/x/data:1", mount.getImage().getImage());
        assertEquals("sub", mount.getImageSubPath());

        assertEquals("/dev/fuse", cc.getDevices(0).getContainerPath());
        assertEquals("rwm", cc.getDevices(0).getPermissions());
        assertEquals(Map.of("io.kubernetes.container.name", "nginx"), cc.getLabelsMap());
        assertEquals(Map.of("restart", "0"), cc.getAnnotationsMap());
        assertEquals("nginx/4.log", cc.getLogPath());
        assertTrue(cc.getStdin());
        assertTrue(cc.getStdinOnce());
        assertTrue(cc.getTty());

        LinuxContainerResources res = cc.getLinux().getResources();
        assertNoUnknownFields(res);
        assertEquals(100000, res.getCpuPeriod());
        assertEquals(50000, res.getCpuQuota());
        assertEquals(512, res.getCpuShares());
        assertEquals(268435456L, res.getMemoryLimitInBytes());
        assertEquals(-997, res.getOomScoreAdj());
        assertEquals("0-1", res.getCpusetCpus());
        assertEquals("0", res.getCpusetMems());
        assertEquals("2MB", res.getHugepageLimits(0).getPageSize());
        assertEquals(4194304L, res.getHugepageLimits(0).getLimit());
        assertEquals(Map.of("memory.high", "max"), res.getUnifiedMap());
        assertEquals(536870912L, res.getMemorySwapLimitInBytes());

        LinuxContainerSecurityContext sc = cc.getLinux().getSecurityContext();
        assertNoUnknownFields(sc);
        assertEquals(List.of("NET_ADMIN"), sc.getCapabilities().getAddCapabilitiesList());
        assertEquals(List.of("ALL"), sc.getCapabilities().getDropCapabilitiesList());
        assertEquals(List.of("NET_BIND_SERVICE"), sc.getCapabilities().getAddAmbientCapabilitiesList());
        assertEquals(NamespaceMode.TARGET, sc.getNamespaceOptions().getPid());
        assertEquals("nginx", sc.getRunAsUsername());
        assertTrue(sc.getNoNewPrivs());
        assertEquals(List.of("/proc/kcore"), sc.getMaskedPathsList());
        assertEquals(List.of("/proc/sys"), sc.getReadonlyPathsList());
        assertEquals(SupplementalGroupsPolicy.Strict, sc.getSupplementalGroupsPolicy());

        assertEquals("vendor.com/gpu=0", cc.getCDIDevices(0).getName());
        assertEquals(Signal.SIGTERM, cc.getStopSignal());
    }

    // ---------------------------------------------------------------------------------------
    // PullImageRequest / AuthConfig
    // ---------------------------------------------------------------------------------------

    @Test
    void pullImageRequestWithAuth() throws Exception {
        byte[] wire = encode(out -> {
            message(out, 1, i -> string(i, 1, "registry.example.com/team/app:2.0")); // image
            message(out, 2, a -> {                   // auth -> AuthConfig
                string(a, 1, "robot");               // username
                string(a, 2, "s3cret");              // password
                string(a, 3, "cm9ib3Q6czNjcmV0");    // auth
                string(a, 4, "registry.example.com"); // server_address
                string(a, 5, "id-tok");              // identity_token
                string(a, 6, "reg-tok");             // registry_token
            });
            message(out, 3, sb -> message(sb, 1, md -> string(md, 3, "team-ns"))); // sandbox_config
        });

        PullImageRequest req = PullImageRequest.parseFrom(wire);
        assertNoUnknownFields(req);
        assertEquals("registry.example.com/team/app:2.0", req.getImage().getImage());
        AuthConfig auth = req.getAuth();
        assertNoUnknownFields(auth);
        assertEquals("robot", auth.getUsername());
        assertEquals("s3cret", auth.getPassword());
        assertEquals("cm9ib3Q6czNjcmV0", auth.getAuth());
        assertEquals("registry.example.com", auth.getServerAddress());
        assertEquals("id-tok", auth.getIdentityToken());
        assertEquals("reg-tok", auth.getRegistryToken());
        assertEquals("team-ns", req.getSandboxConfig().getMetadata().getNamespace());

        PullImageResponse resp = PullImageResponse.parseFrom(encode(out -> string(out, 1, "sha256:feed")));
        assertEquals("sha256:feed", resp.getImageRef());
    }

    // ---------------------------------------------------------------------------------------
    // ContainerStatus
    // ---------------------------------------------------------------------------------------

    @Test
    void containerStatus() throws Exception {
        byte[] wire = encode(out -> {
            string(out, 1, "c0ffee");                // id
            message(out, 2, m -> string(m, 1, "app")); // metadata.name
            varint(out, 3, 2);                       // state = CONTAINER_EXITED
            varint(out, 4, 1_700_000_000_000_000_000L); // created_at
            varint(out, 5, 1_700_000_001_000_000_000L); // started_at
            varint(out, 6, 1_700_000_002_000_000_000L); // finished_at
            varint(out, 7, 137);                     // exit_code
            message(out, 8, i -> string(i, 1, "busybox")); // image
            string(out, 9, "docker.io/library/busybox@sha256:1"); // image_ref
            string(out, 10, "OOMKilled");            // reason
            string(out, 11, "out of memory");        // message
            mapEntry(out, 12, "l", "1");             // labels
            mapEntry(out, 13, "a", "2");             // annotations
            message(out, 14, mt -> string(mt, 1, "/data")); // mounts
            string(out, 15, "/var/log/pods/x/app/0.log"); // log_path
            message(out, 16, r -> message(r, 1, l -> varint(l, 3, 256))); // resources.linux.cpu_shares
            string(out, 17, "sha256:1");             // image_id
            message(out, 18, u -> message(u, 1, l -> { // user.linux
                varint(l, 1, 1000);                  // uid
                varint(l, 2, 3000);                  // gid
                packedVarints(l, 3, 3000, 4000);     // supplemental_groups
            }));
            varint(out, 19, 13);                     // stop_signal = SIGKILL
        });

        ContainerStatus st = ContainerStatus.parseFrom(wire);
        assertNoUnknownFields(st);
        assertEquals("c0ffee", st.getId());
        assertEquals("app", st.getMetadata().getName());
        assertEquals(ContainerState.CONTAINER_EXITED, st.getState());
        assertEquals(1_700_000_000_000_000_000L, st.getCreatedAt());
        assertEquals(1_700_000_001_000_000_000L, st.getStartedAt());
        assertEquals(1_700_000_002_000_000_000L, st.getFinishedAt());
        assertEquals(137, st.getExitCode());
        assertEquals("busybox", st.getImage().getImage());
        assertEquals("docker.io/library/busybox@sha256:1", st.getImageRef());
        assertEquals("OOMKilled", st.getReason());
        assertEquals("out of memory", st.getMessage());
        assertEquals(Map.of("l", "1"), st.getLabelsMap());
        assertEquals(Map.of("a", "2"), st.getAnnotationsMap());
        assertEquals("/data", st.getMounts(0).getContainerPath());
        assertEquals("/var/log/pods/x/app/0.log", st.getLogPath());
        assertEquals(256, st.getResources().getLinux().getCpuShares());
        assertEquals("sha256:1", st.getImageId());
        assertEquals(1000, st.getUser().getLinux().getUid());
        assertEquals(3000, st.getUser().getLinux().getGid());
        assertEquals(List.of(3000L, 4000L), st.getUser().getLinux().getSupplementalGroupsList());
        assertEquals(Signal.SIGKILL, st.getStopSignal());

        // exit_code is int32: a negative value travels as a 10-byte sign-extended varint.
        ContainerStatus negative = ContainerStatus.parseFrom(encode(out -> {
            varint(out, 3, 3);                        // state = CONTAINER_UNKNOWN
            out.writeTag(7, WireFormat.WIRETYPE_VARINT);
            out.writeInt32NoTag(-1);
        }));
        assertEquals(ContainerState.CONTAINER_UNKNOWN, negative.getState());
        assertEquals(-1, negative.getExitCode());

        // Enum values upstream has not defined yet must survive as raw numbers.
        ContainerStatus future = ContainerStatus.parseFrom(encode(out -> varint(out, 3, 42)));
        assertEquals(ContainerState.UNRECOGNIZED, future.getState());
        assertEquals(42, future.getStateValue());
    }

    // ---------------------------------------------------------------------------------------
    // Golden bytes
    // ---------------------------------------------------------------------------------------

    /**
     * A CreateContainerRequest as encoded by {@code protoc --encode=runtime.v1.CreateContainerRequest}
     * against the unmodified upstream cri-api v0.36.3 api.proto (not against our copy).
     */
    private static final String GOLDEN_CREATE_CONTAINER_HEX =
            "0a0473622d3112b8010a070a036170701002122f0a1e646f636b65722e696f2f6c6962726172792f6275"
            + "7379626f783a312e333692010c62757379626f783a312e33361a072f62696e2f736822022d63220a73"
            + "6c65657020333630302a052f776f726b320d0a04484f4d4512052f726f6f744a0b0a04746965721203"
            + "7765625a096170702f302e6c6f6770017a1b0a081880042080808040120f1a04080210012a0308e807"
            + "4202041b8a01120a1076656e646f722e636f6d2f6770753d309001171a1a0a180a057765622d301204"
            + "613162321a0764656661756c742001";

    @Test
    void goldenCreateContainerRequestRoundTrip() throws Exception {
        byte[] golden = HexFormat.of().parseHex(GOLDEN_CREATE_CONTAINER_HEX);

        CreateContainerRequest req = CreateContainerRequest.parseFrom(golden);
        assertNoUnknownFields(req);
        assertEquals("sb-1", req.getPodSandboxId());
        ContainerConfig cfg = req.getConfig();
        assertEquals("app", cfg.getMetadata().getName());
        assertEquals(2, cfg.getMetadata().getAttempt());
        assertEquals("docker.io/library/busybox:1.36", cfg.getImage().getImage());
        assertEquals("busybox:1.36", cfg.getImage().getUserSpecifiedImage());
        assertEquals(List.of("/bin/sh"), cfg.getCommandList());
        assertEquals(List.of("-c", "sleep 3600"), cfg.getArgsList());
        assertEquals("/work", cfg.getWorkingDir());
        assertEquals("HOME", cfg.getEnvs(0).getKey());
        assertEquals("/root", cfg.getEnvs(0).getValue().toStringUtf8());
        assertEquals(Map.of("tier", "web"), cfg.getLabelsMap());
        assertEquals("app/0.log", cfg.getLogPath());
        assertTrue(cfg.getTty());
        assertEquals(512, cfg.getLinux().getResources().getCpuShares());
        assertEquals(134217728L, cfg.getLinux().getResources().getMemoryLimitInBytes());
        LinuxContainerSecurityContext sc = cfg.getLinux().getSecurityContext();
        assertEquals(NamespaceMode.NODE, sc.getNamespaceOptions().getNetwork());
        assertEquals(NamespaceMode.CONTAINER, sc.getNamespaceOptions().getPid());
        assertEquals(NamespaceMode.POD, sc.getNamespaceOptions().getIpc());
        assertEquals(1000, sc.getRunAsUser().getValue());
        assertEquals(List.of(4L, 27L), sc.getSupplementalGroupsList());
        assertEquals("vendor.com/gpu=0", cfg.getCDIDevices(0).getName());
        assertEquals(Signal.SIGTERM, cfg.getStopSignal());
        PodSandboxMetadata sbmd = req.getSandboxConfig().getMetadata();
        assertEquals("web-0", sbmd.getName());
        assertEquals("a1b2", sbmd.getUid());
        assertEquals("default", sbmd.getNamespace());
        assertEquals(1, sbmd.getAttempt());

        // Re-encoding with our classes must give back exactly the same bytes.
        assertArrayEquals(golden, req.toByteArray(),
                () -> "re-encoded: " + HexFormat.of().formatHex(req.toByteArray()));
        // And building the same message from scratch must too.
        assertArrayEquals(golden, rebuildGolden().toByteArray());
    }

    private static MessageLite rebuildGolden() {
        return CreateContainerRequest.newBuilder()
                .setPodSandboxId("sb-1")
                .setConfig(ContainerConfig.newBuilder()
                        .setMetadata(ContainerMetadata.newBuilder().setName("app").setAttempt(2))
                        .setImage(ImageSpec.newBuilder()
                                .setImage("docker.io/library/busybox:1.36")
                                .setUserSpecifiedImage("busybox:1.36"))
                        .addCommand("/bin/sh")
                        .addArgs("-c")
                        .addArgs("sleep 3600")
                        .setWorkingDir("/work")
                        .addEnvs(KeyValue.newBuilder().setKey("HOME")
                                .setValue(ByteString.copyFromUtf8("/root")))
                        .putLabels("tier", "web")
                        .setLogPath("app/0.log")
                        .setTty(true)
                        .setLinux(LinuxContainerConfig.newBuilder()
                                .setResources(LinuxContainerResources.newBuilder()
                                        .setCpuShares(512)
                                        .setMemoryLimitInBytes(134217728L))
                                .setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                                        .setNamespaceOptions(NamespaceOption.newBuilder()
                                                .setNetwork(NamespaceMode.NODE)
                                                .setPid(NamespaceMode.CONTAINER)
                                                .setIpc(NamespaceMode.POD))
                                        .setRunAsUser(Int64Value.newBuilder().setValue(1000))
                                        .addSupplementalGroups(4)
                                        .addSupplementalGroups(27)))
                        .addCDIDevices(CDIDevice.newBuilder().setName("vendor.com/gpu=0"))
                        .setStopSignal(Signal.SIGTERM))
                .setSandboxConfig(PodSandboxConfig.newBuilder()
                        .setMetadata(PodSandboxMetadata.newBuilder()
                                .setName("web-0").setUid("a1b2").setNamespace("default").setAttempt(1)))
                .build();
    }

    @Test
    void unknownFieldNumbersAreReportedAsUnknown() throws InvalidProtocolBufferException, IOException {
        // Sanity check of the helper used above: field 99 is not part of VersionRequest.
        VersionRequest req = VersionRequest.parseFrom(encode(out -> string(out, 99, "x")));
        assertTrue(req.getUnknownFields().hasField(99));
    }

    // ---------------------------------------------------------------------------------------
    // Services
    // ---------------------------------------------------------------------------------------

    private static Map<String, MethodType> methods(ServiceDescriptor service) {
        Map<String, MethodType> out = new TreeMap<>();
        for (MethodDescriptor<?, ?> m : service.getMethods()) {
            out.put(m.getFullMethodName(), m.getType());
        }
        return out;
    }

    @Test
    void runtimeServiceMethodsMatchUpstream() {
        ServiceDescriptor service = RuntimeServiceGrpc.getServiceDescriptor();
        assertEquals("runtime.v1.RuntimeService", service.getName());

        Map<String, MethodType> expected = new TreeMap<>();
        for (String unary : List.of(
                "Version",
                "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
                "ListPodSandbox",
                "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
                "ListContainers", "ContainerStatus", "UpdateContainerResources",
                "ReopenContainerLog",
                "ExecSync", "Exec", "Attach", "PortForward",
                "ContainerStats", "ListContainerStats",
                "PodSandboxStats", "ListPodSandboxStats",
                "UpdateRuntimeConfig", "Status", "CheckpointContainer",
                "ListMetricDescriptors", "ListPodSandboxMetrics",
                "RuntimeConfig", "UpdatePodSandboxResources")) {
            expected.put("runtime.v1.RuntimeService/" + unary, MethodType.UNARY);
        }
        for (String streaming : List.of(
                "StreamPodSandboxes", "StreamContainers", "StreamContainerStats",
                "StreamPodSandboxStats", "GetContainerEvents", "StreamPodSandboxMetrics")) {
            expected.put("runtime.v1.RuntimeService/" + streaming, MethodType.SERVER_STREAMING);
        }
        assertEquals(35, expected.size());
        assertEquals(expected, methods(service));
    }

    @Test
    void imageServiceMethodsMatchUpstream() {
        ServiceDescriptor service = ImageServiceGrpc.getServiceDescriptor();
        assertEquals("runtime.v1.ImageService", service.getName());

        Map<String, MethodType> expected = new TreeMap<>();
        for (String unary : List.of("ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo")) {
            expected.put("runtime.v1.ImageService/" + unary, MethodType.UNARY);
        }
        expected.put("runtime.v1.ImageService/StreamImages", MethodType.SERVER_STREAMING);
        assertEquals(6, expected.size());
        assertEquals(expected, methods(service));
    }

    private static Object prototype(MethodDescriptor.Marshaller<?> marshaller) {
        return ((MethodDescriptor.PrototypeMarshaller<?>) marshaller).getMessagePrototype();
    }

    @Test
    void rpcMessageTypesMatchUpstream() {
        // GetContainerEvents is the one RPC whose request/response names do not follow the RPC name.
        MethodDescriptor<?, ?> events = RuntimeServiceGrpc.getGetContainerEventsMethod();
        assertEquals(GetEventsRequest.getDefaultInstance(), prototype(events.getRequestMarshaller()));
        assertEquals(ContainerEventResponse.getDefaultInstance(), prototype(events.getResponseMarshaller()));

        MethodDescriptor<?, ?> images = ImageServiceGrpc.getStreamImagesMethod();
        assertEquals(StreamImagesRequest.getDefaultInstance(), prototype(images.getRequestMarshaller()));
        assertEquals(StreamImagesResponse.getDefaultInstance(), prototype(images.getResponseMarshaller()));
    }
}
