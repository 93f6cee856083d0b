package io.coracle.image;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A normalized image reference, as the kubelet and Docker read it:
 * {@code busybox} is {@code docker.io/library/busybox:latest}.
 *
 * @param registry  registry host[:port], e.g. {@code docker.io}, {@code localhost:5000}
 * @param repository path inside the registry, e.g. {@code library/busybox}
 * @param tag       tag or null (null only when a digest is given)
 * @param digest    manifest digest or null
 */
public record ImageReference(String registry, String repository, String tag, Digest digest) {
    public static final String DOCKER_HUB = "docker.io";

    private static final Pattern PATH_COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    private static final Pattern DOMAIN = Pattern.compile(
            "(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
                    + "|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?");
    private static final Pattern TAG = Pattern.compile("[\\w][\\w.-]{0,127}");
    private static final Pattern ID = Pattern.compile("[a-f0-9]{64}");

    /**
     * References parsed lately: the kubelet asks ImageStatus of the same few images every few seconds,
     * and the regular expressions were most of that call. Valid ones only; emptied when full.
     */
    private static final java.util.Map<String, ImageReference> PARSED = new java.util.concurrent.ConcurrentHashMap<>();
    private static final int PARSED_MAX = 512;

    /** Parses and normalizes; any malformed reference is INVALID_ARGUMENT naming it. */
    public static ImageReference parse(String ref) {
        ImageReference known = ref == null ? null : PARSED.get(ref);
        if (known != null) {
            return known;
        }
        ImageReference parsed = parseNew(ref);
        if (PARSED.size() >= PARSED_MAX) {
            PARSED.clear();
        }
        PARSED.put(ref, parsed);
        return parsed;
    }

    private static ImageReference parseNew(String ref) {
        if (ref == null || ref.isEmpty()) {
            throw invalid(ref, "empty reference");
        }
        if (ID.matcher(ref).matches()) {
            throw invalid(ref, "a 64-character hex string is an image ID, not a repository name");
        }
        if (ref.length() > MAX_LENGTH) {
            throw invalid(ref, ref.length() + " characters, more than the " + MAX_LENGTH + " allowed");
        }
        String rest = ref;
        Digest digest = null;
        int at = rest.indexOf('@');
        if (at >= 0) {
            String d = rest.substring(at + 1);
            rest = rest.substring(0, at);
            try {
                digest = Digest.parse(d);
            } catch (ImageException e) {
                throw invalid(ref, "bad digest: " + e.getMessage());
            }
        }
        String tag = null;
        int colon = rest.lastIndexOf(':');
        if (colon > rest.lastIndexOf('/')) {
            tag = rest.substring(colon + 1);
            rest = rest.substring(0, colon);
            if (!TAG.matcher(tag).matches()) {
                throw invalid(ref, "bad tag \"" + tag + "\"");
            }
        }
        String registry;
        String path;
        int slash = rest.indexOf('/');
        String first = slash < 0 ? "" : rest.substring(0, slash);
        if (slash < 0 || (!first.contains(".") && !first.contains(":") && !first.equals("localhost")
                && first.toLowerCase(Locale.ROOT).equals(first))) {
            registry = DOCKER_HUB;
            path = rest;
        } else {
            registry = first;
            path = rest.substring(slash + 1);
            if (!DOMAIN.matcher(registry).matches()) {
                throw invalid(ref, "bad registry \"" + registry + "\"");
            }
        }
        if (registry.equals("index.docker.io")) {
            registry = DOCKER_HUB;
        }
        if (registry.equals(DOCKER_HUB) && !path.contains("/")) {
            path = "library/" + path;
        }
        if (path.isEmpty()) {
            throw invalid(ref, "empty repository name");
        }
        for (String component : path.split("/", -1)) {
            if (!PATH_COMPONENT.matcher(component).matches()) {
                throw invalid(ref, "bad repository name component \"" + component + "\" (lowercase letters, digits and separators only)");
            }
        }
        if (registry.length() + 1 + path.length() > 255) {
            throw invalid(ref, "repository name longer than 255 characters");
        }
        if (tag == null && digest == null) {
            tag = "latest";
        }
        return new ImageReference(registry, path, tag, digest);
    }

    /** Far above any registry's name plus tag plus digest; the message shows only the start of a longer one. */
    static final int MAX_LENGTH = 4096;

    private static ImageException invalid(String ref, String why) {
        String shown = ref == null || ref.length() <= 256 ? ref : ref.substring(0, 256) + "...";
        return new ImageException(ImageException.Reason.INVALID_ARGUMENT, "invalid image reference \"" + shown + "\": " + why);
    }

    /** {@code registry/repository}, e.g. {@code docker.io/library/busybox}. */
    public String name() {
        return registry + "/" + repository;
    }

    /** The manifest to ask the registry for: the digest if there is one, else the tag. */
    public String manifestReference() {
        return digest != null ? digest.toString() : tag;
    }

    /** {@code name:tag}, or null without a tag. */
    public String tagged() {
        return tag == null ? null : name() + ":" + tag;
    }

    /** {@code name@digest} for a given manifest digest. */
    public String withDigest(Digest d) {
        return name() + "@" + d;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder(name());
        if (tag != null) {
            b.append(':').append(tag);
        }
        if (digest != null) {
            b.append('@').append(digest);
        }
        return b.toString();
    }
}
