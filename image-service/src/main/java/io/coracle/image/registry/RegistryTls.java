package io.coracle.image.registry;

import io.coracle.image.ImageException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * SSL contexts for one registry host: the system's CAs plus the host's {@code ca} files, its client
 * certificates (PEM; keys in PKCS#8, PKCS#1 RSA or SEC1 EC form, unencrypted), or with {@code skip_verify}
 * no verification of the chain and name, for that host only.
 */
public final class RegistryTls {
    private static final Pattern PEM = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]+?)-----END \\1-----");
    private static final int MAX_PEM_BYTES = 1 << 20;
    private static final byte[] OID_RSA = {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01};
    private static final byte[] OID_EC = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};

    private RegistryTls() {
    }

    /** The context for {@code tls}, or null when it asks for nothing beyond the system defaults. */
    public static SSLContext contextFor(RegistryEndpoint.Tls tls, String host) {
        if (tls.cas().isEmpty() && tls.clients().isEmpty() && !tls.skipVerify()) {
            return null;
        }
        try {
            TrustManager[] trust = tls.skipVerify() ? new TrustManager[] {new TrustAll()} : trustManagers(tls.cas(), host);
            javax.net.ssl.KeyManager[] keys = null;
            if (!tls.clients().isEmpty()) {
                KeyStore ks = KeyStore.getInstance("PKCS12");
                ks.load(null, null);
                char[] pw = "coracle".toCharArray();
                int i = 0;
                for (RegistryEndpoint.ClientCert c : tls.clients()) {
                    List<X509Certificate> chain = certificates(c.cert(), host);
                    if (chain.isEmpty()) {
                        throw bad(host, "client certificate file " + c.cert() + " holds no CERTIFICATE");
                    }
                    PrivateKey key = privateKey(c.key() != null ? c.key() : c.cert(), host);
                    ks.setKeyEntry("client" + i++, key, pw, chain.toArray(new Certificate[0]));
                }
                KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(ks, pw);
                keys = kmf.getKeyManagers();
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(keys, trust, null);
            return ctx;
        } catch (GeneralSecurityException | IOException | IllegalArgumentException e) {
            throw bad(host, e.getMessage());
        }
    }

    /** The system's trusted CAs plus those of the files. */
    private static TrustManager[] trustManagers(List<Path> cas, String host) throws GeneralSecurityException, IOException {
        TrustManagerFactory system = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        system.init((KeyStore) null);
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        int i = 0;
        for (TrustManager tm : system.getTrustManagers()) {
            if (tm instanceof X509TrustManager x) {
                for (X509Certificate c : x.getAcceptedIssuers()) {
                    ks.setCertificateEntry("system" + i++, c);
                }
            }
        }
        for (Path ca : cas) {
            List<X509Certificate> certs = certificates(ca, host);
            if (certs.isEmpty()) {
                throw bad(host, "CA file " + ca + " holds no CERTIFICATE");
            }
            for (X509Certificate c : certs) {
                ks.setCertificateEntry("ca" + i++, c);
            }
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        return tmf.getTrustManagers();
    }

    static List<X509Certificate> certificates(Path pem, String host) throws IOException, GeneralSecurityException {
        List<X509Certificate> out = new ArrayList<>();
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        for (Block b : blocks(pem, host)) {
            if (b.type.equals("CERTIFICATE")) {
                out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(b.der)));
            }
        }
        return out;
    }

    private record Block(String type, byte[] der) {
    }

    private static List<Block> blocks(Path pem, String host) throws IOException {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(pem)) {
            bytes = in.readNBytes(MAX_PEM_BYTES + 1);
        }
        if (bytes.length > MAX_PEM_BYTES) {
            throw bad(host, pem + " is larger than " + MAX_PEM_BYTES + " bytes");
        }
        List<Block> out = new ArrayList<>();
        Matcher m = PEM.matcher(new String(bytes, StandardCharsets.US_ASCII));
        while (m.find()) {
            out.add(new Block(m.group(1), Base64.getMimeDecoder().decode(m.group(2))));
        }
        return out;
    }

    /** The first private key of a PEM file: PKCS#8 {@code PRIVATE KEY}, PKCS#1 {@code RSA PRIVATE KEY} or SEC1 {@code EC PRIVATE KEY}. */
    static PrivateKey privateKey(Path pem, String host) throws IOException, GeneralSecurityException {
        for (Block b : blocks(pem, host)) {
            switch (b.type) {
                case "PRIVATE KEY" -> {
                    return pkcs8(b.der);
                }
                case "RSA PRIVATE KEY" -> {
                    return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(
                            seq(concat(new byte[] {0x02, 0x01, 0x00}, seq(concat(OID_RSA, new byte[] {0x05, 0x00})), tlv(0x04, b.der)))));
                }
                case "EC PRIVATE KEY" -> {
                    byte[] curve = sec1Curve(b.der);
                    if (curve == null) {
                        throw bad(host, "EC key in " + pem + " names no curve");
                    }
                    return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(
                            seq(concat(new byte[] {0x02, 0x01, 0x00}, seq(concat(OID_EC, curve)), tlv(0x04, b.der)))));
                }
                case "ENCRYPTED PRIVATE KEY" -> throw bad(host, "the key in " + pem + " is encrypted; give an unencrypted one");
                default -> {
                }
            }
        }
        throw bad(host, "no private key in " + pem);
    }

    private static PrivateKey pkcs8(byte[] der) throws GeneralSecurityException {
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        GeneralSecurityException last = null;
        for (String alg : List.of("RSA", "EC", "Ed25519", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                last = e;
            }
        }
        throw last;
    }

    /** The curve OID (full TLV) in the {@code [0]} parameters of a SEC1 ECPrivateKey, or null. */
    private static byte[] sec1Curve(byte[] der) {
        Der outer = new Der(der, 0);
        if (outer.tag != 0x30) {
            return null;
        }
        int p = outer.contentStart;
        int end = outer.contentStart + outer.length;
        while (p < end) {
            Der d = new Der(der, p);
            if (d.tag == 0xa0) {
                Der oid = new Der(der, d.contentStart);
                return java.util.Arrays.copyOfRange(der, d.contentStart, oid.contentStart + oid.length);
            }
            p = d.contentStart + d.length;
        }
        return null;
    }

    /** One DER TLV header, bounds-checked against the array. */
    private static final class Der {
        final int tag;
        final int length;
        final int contentStart;

        Der(byte[] b, int at) {
            if (at + 2 > b.length) {
                throw new IllegalArgumentException("truncated DER");
            }
            tag = b[at] & 0xff;
            int l = b[at + 1] & 0xff;
            int p = at + 2;
            if (l >= 0x80) {
                int n = l & 0x7f;
                if (n == 0 || n > 3 || p + n > b.length) {
                    throw new IllegalArgumentException("bad DER length");
                }
                l = 0;
                for (int i = 0; i < n; i++) {
                    l = (l << 8) | (b[p++] & 0xff);
                }
            }
            if (p + l > b.length) {
                throw new IllegalArgumentException("truncated DER");
            }
            length = l;
            contentStart = p;
        }
    }

    private static byte[] seq(byte[] content) {
        return tlv(0x30, content);
    }

    private static byte[] tlv(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int n = content.length;
        if (n < 0x80) {
            out.write(n);
        } else if (n < 0x100) {
            out.write(0x81);
            out.write(n);
        } else if (n < 0x10000) {
            out.write(0x82);
            out.write(n >> 8);
            out.write(n);
        } else {
            out.write(0x83);
            out.write(n >> 16);
            out.write(n >> 8);
            out.write(n);
        }
        out.writeBytes(content);
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static ImageException bad(String host, String why) {
        return new ImageException(ImageException.Reason.INVALID_ARGUMENT, "TLS settings of registry host " + host + ": " + why);
    }

    /** skip_verify: accepts any chain and name, for the one host configured so. */
    private static final class TrustAll extends X509ExtendedTrustManager {
        @Override public void checkClientTrusted(X509Certificate[] c, String a, Socket s) { }
        @Override public void checkServerTrusted(X509Certificate[] c, String a, Socket s) { }
        @Override public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) { }
        @Override public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) { }
        @Override public void checkClientTrusted(X509Certificate[] c, String a) { }
        @Override public void checkServerTrusted(X509Certificate[] c, String a) { }
        @Override public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
