package io.coracle.image.registry;

import java.net.URI;

/**
 * One place to fetch a registry's content from: the registry itself or one of its mirrors.
 *
 * @param registry the registry host the image is named after (e.g. {@code docker.io})
 * @param base     scheme://host[:port][/prefix] the {@code /v2/} routes hang under
 * @param mirror   true for a configured mirror
 */
public record RegistryEndpoint(String registry, URI base, boolean mirror) {

    public URI route(String path) {
        String b = base.toString();
        if (b.endsWith("/")) {
            b = b.substring(0, b.length() - 1);
        }
        return URI.create(b + path);
    }

    public String host() {
        return base.getAuthority();
    }

    @Override
    public String toString() {
        return base + (mirror ? " (mirror of " + registry + ")" : "");
    }
}
