package io.coracle.image;

import java.util.Locale;

/** An OCI platform (os/architecture[/variant]) and the rule for picking one from an index. */
public record Platform(String os, String architecture, String variant) {

    public static Platform current() {
        String arch = switch (System.getProperty("os.arch").toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            case "arm" -> "arm";
            case "ppc64le" -> "ppc64le";
            case "s390x" -> "s390x";
            case "riscv64" -> "riscv64";
            default -> System.getProperty("os.arch");
        };
        return new Platform("linux", arch, arch.equals("arm64") ? "v8" : null);
    }

    public static Platform parse(String s) {
        String[] p = s.split("/");
        if (p.length < 2 || p.length > 3) {
            throw new IllegalArgumentException("platform must be os/arch[/variant]: " + s);
        }
        return new Platform(p[0], p[1], p.length == 3 ? p[2] : null);
    }

    /**
     * How well a candidate matches this node: -1 no match, higher is better. An exact variant beats
     * no variant; arm64 treats an absent variant as v8.
     */
    public int score(String os, String arch, String v) {
        if (!this.os.equals(os) || !architecture.equals(arch)) {
            return -1;
        }
        String mine = variant == null || variant.isEmpty() ? defaultVariant(arch) : variant;
        String theirs = v == null || v.isEmpty() ? defaultVariant(arch) : v;
        if (mine == null && theirs == null) {
            return 2;
        }
        if (mine != null && mine.equals(theirs)) {
            return 2;
        }
        if (theirs == null) {
            return 1;
        }
        // amd64 variants v1..v4 and arm v5..v8 are backward compatible: a lower one still runs.
        if (mine != null && theirs.compareTo(mine) < 0 && theirs.length() == mine.length()) {
            return 1;
        }
        return -1;
    }

    private static String defaultVariant(String arch) {
        return arch.equals("arm64") ? "v8" : null;
    }

    @Override
    public String toString() {
        return os + "/" + architecture + (variant == null ? "" : "/" + variant);
    }
}
