package io.coracle.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.coracle.cri.CriError;
import io.coracle.image.content.ManifestDocument;
import io.coracle.image.content.MediaTypes;
import io.coracle.image.registry.Credentials;
import io.coracle.testing.LocalRegistry;
import io.coracle.testing.RegistryPusher;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The cosign signature policy, with signatures made here in cosign's format (simple signing, ECDSA P-256). */
class SignaturePolicyTest {
    @TempDir
    Path tmp;
    LocalRegistry registry;
    RegistryPusher pusher;
    FaultProxy front;
    KeyPair trusted;
    KeyPair stranger;
    Path trustedPem;

    @BeforeEach
    void start() throws Exception {
        registry = LocalRegistry.start(tmp.resolve("registry"));
        pusher = new RegistryPusher(registry.base());
        front = new FaultProxy(registry.base());
        trusted = ecKeyPair();
        stranger = ecKeyPair();
        trustedPem = Files.writeString(tmp.resolve("cosign.pub"), pem(trusted));
    }

    @AfterEach
    void stop() throws Exception {
        front.close();
        registry.close();
    }

    String host() {
        return front.base().getAuthority();
    }

    ImageService open(String root) {
        return new ImageService(ImageServiceConfig.defaults(tmp.resolve(root)).withPlatform("linux/amd64").withMaxRetries(0)
                .withSignaturePolicy(Map.of(host() + "/signed", List.of(trustedPem))));
    }

    @Test
    void signedImageIsAcceptedOthersAreRefusedBeforeAnyLayerIsFetched() throws Exception {
        TestImage good = image("good");
        Digest goodDigest = good.push(pusher, "signed/good", "1");
        sign(pusher, "signed/good", goodDigest, payload(host() + "/signed/good", goodDigest), trusted, false);

        TestImage unsigned = image("unsigned");
        unsigned.push(pusher, "signed/unsigned", "1");

        TestImage wrongKey = image("wrong-key");
        Digest wrongKeyDigest = wrongKey.push(pusher, "signed/wrongkey", "1");
        sign(pusher, "signed/wrongkey", wrongKeyDigest, payload(host() + "/signed/wrongkey", wrongKeyDigest), stranger, false);

        TestImage otherDigest = image("other-digest");
        Digest otherDigestDigest = otherDigest.push(pusher, "signed/otherdigest", "1");
        // A valid signature by the trusted key, but of the good image's digest, stored under this image's tag.
        sign(pusher, "signed/otherdigest", otherDigestDigest, payload(host() + "/signed/otherdigest", goodDigest), trusted, false);

        TestImage tampered = image("tampered");
        Digest tamperedDigest = tampered.push(pusher, "signed/tampered", "1");
        sign(pusher, "signed/tampered", tamperedDigest, payload(host() + "/signed/tampered", tamperedDigest), trusted, true);

        TestImage elsewhere = image("elsewhere");
        Digest elsewhereDigest = elsewhere.push(pusher, "signed/moved", "1");
        // Signed by the trusted key for another repository: moving a signed image does not carry its signature.
        sign(pusher, "signed/moved", elsewhereDigest, payload(host() + "/signed/good", elsewhereDigest), trusted, false);

        TestImage outside = image("outside");
        outside.push(pusher, "public/tool", "1");

        try (ImageService s = open("root")) {
            assertEquals(good.configDigest().toString(), s.pull(host() + "/signed/good:1", Credentials.ANONYMOUS).id());
            assertEquals(outside.configDigest().toString(), s.pull(host() + "/public/tool:1", Credentials.ANONYMOUS).id(),
                    "outside every scope: no signature needed");

            refused(s, "signed/unsigned", unsigned, "has no cosign signature");
            refused(s, "signed/wrongkey", wrongKey, "no signature verifies with the policy's keys");
            refused(s, "signed/otherdigest", otherDigest, "the signature is for digest " + goodDigest);
            refused(s, "signed/tampered", tampered, "no signature verifies with the policy's keys");
            refused(s, "signed/moved", elsewhere, "the signature is for " + host() + "/signed/good");
            // By digest as well.
            refused(s, "signed/unsigned@" + unsigned.manifestDigest(), unsigned, "has no cosign signature");
            assertEquals(2, s.list().size());
        }
    }

    void refused(ImageService s, String repoRef, TestImage img, String why) throws Exception {
        String ref = host() + "/" + (repoRef.contains("@") ? repoRef : repoRef + ":1");
        ImageException e = assertThrows(ImageException.class, () -> s.pull(ref, Credentials.ANONYMOUS));
        assertEquals(ImageException.Reason.SIGNATURE_REFUSED, e.reason(), e.getMessage());
        assertEquals(CriError.Kind.PRECONDITION, e.kind());
        assertTrue(e.getMessage().contains(host() + "/" + repoRef.split("@")[0]) && e.getMessage().contains(img.manifestDigest().toString()),
                "names the image and digest: " + e.getMessage());
        assertTrue(e.getMessage().contains(why), e.getMessage());
        // Neither the config nor any layer was fetched, so nothing was unpacked.
        for (byte[] blob : img.blobs) {
            assertFalse(front.blobGets.containsKey(Digest.of(blob).toString()), "layer fetched for " + ref);
        }
        assertFalse(front.blobGets.containsKey(img.configDigest().toString()), "config fetched for " + ref);
        try (Stream<Path> snaps = Files.list(tmp.resolve("root/snapshots"))) {
            assertEquals(2, snaps.count(), "only the accepted images' snapshots");
        }
    }

    @Test
    void aPolicyKeyThatCannotBeReadStopsTheServiceNamingIt() {
        Path missing = tmp.resolve("missing.pub");
        ImageException e = assertThrows(ImageException.class, () -> new ImageService(ImageServiceConfig.defaults(tmp.resolve("r"))
                .withSignaturePolicy(Map.of("docker.io", List.of(missing)))));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }

    static TestImage image(String marker) {
        return new TestImage().layer(new TestLayer().file("marker", marker + "\n").tar(), TestImage.Compression.GZIP).build(false);
    }

    static KeyPair ecKeyPair() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    static String pem(KeyPair k) {
        return "-----BEGIN PUBLIC KEY-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(k.getPublic().getEncoded())
                + "\n-----END PUBLIC KEY-----\n";
    }

    /** cosign's simple-signing payload. */
    static byte[] payload(String dockerReference, Digest digest) {
        return ("{\"critical\":{\"identity\":{\"docker-reference\":\"" + dockerReference + "\"},\"image\":{\"docker-manifest-digest\":\""
                + digest + "\"},\"type\":\"cosign container image signature\"},\"optional\":null}").getBytes(StandardCharsets.UTF_8);
    }

    /** Pushes the signature manifest at {@code sha256-<hex>.sig}; {@code tamper} changes the payload after signing. */
    static void sign(RegistryPusher pusher, String repo, Digest signedImage, byte[] payload, KeyPair key, boolean tamper) throws Exception {
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(key.getPrivate());
        s.update(payload);
        String sig = Base64.getEncoder().encodeToString(s.sign());
        byte[] stored = tamper ? new String(payload, StandardCharsets.UTF_8).replace("\"optional\":null", "\"optional\":{\"x\":\"y\"}")
                .getBytes(StandardCharsets.UTF_8) : payload;
        byte[] config = "{\"architecture\":\"\",\"os\":\"\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}".getBytes();
        pusher.pushBlob(repo, stored);
        pusher.pushBlob(repo, config);
        var json = ManifestDocument.JSON;
        ObjectNode m = json.createObjectNode();
        m.put("schemaVersion", 2);
        m.put("mediaType", MediaTypes.OCI_MANIFEST);
        ObjectNode c = m.putObject("config");
        c.put("mediaType", MediaTypes.OCI_CONFIG);
        c.put("digest", Digest.of(config).toString());
        c.put("size", config.length);
        ObjectNode l = m.putArray("layers").addObject();
        l.put("mediaType", "application/vnd.dev.cosign.simplesigning.v1+json");
        l.put("digest", Digest.of(stored).toString());
        l.put("size", stored.length);
        l.putObject("annotations").put("dev.cosignproject.cosign/signature", sig);
        pusher.pushManifest(repo, "sha256-" + signedImage.hex() + ".sig", MediaTypes.OCI_MANIFEST, json.writeValueAsBytes(m));
    }
}
