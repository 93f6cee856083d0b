package io.coracle.image.registry;

import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.SocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Logger;

/**
 * The proxy settings of the daemon's environment, read as Go programs (containerd, the kubelet) read
 * them: {@code HTTPS_PROXY} for https:// requests, {@code HTTP_PROXY} for http:// ones (upper case first,
 * then lower case), and {@code NO_PROXY}: {@code *}, IP addresses, CIDRs, domains (which match their
 * subdomains; a leading dot or {@code *.} matches subdomains only), each optionally with {@code :port}.
 * {@code localhost} and loopback addresses are never proxied. A proxy URL's user:password is sent as
 * {@code Proxy-Authorization: Basic} to the proxy only (on the CONNECT of an https:// request).
 */
public final class ProxyEnvironment extends ProxySelector {
    private static final Logger LOG = Logger.getLogger(ProxyEnvironment.class.getName());
    public static final ProxyEnvironment NONE = new ProxyEnvironment(null, null, List.of());

    static {
        // Java's HttpClient refuses Basic proxy credentials on a CONNECT tunnel unless this is cleared before its
        // first use; the daemon's jvm.options clears it too (curl and Go send them as well).
        if (System.getProperty("jdk.http.auth.tunneling.disabledSchemes") == null) {
            System.setProperty("jdk.http.auth.tunneling.disabledSchemes", "");
        }
    }

    /** A proxy: where to connect, and the Proxy-Authorization value or null. */
    record Route(InetSocketAddress address, String authorization, String display) {
    }

    private final Route https;
    private final Route http;
    private final List<String> noProxy;
    /** hosts.toml's {@code proxy}: every request goes through it, loopback and NO_PROXY hosts too. */
    private final boolean explicit;

    private ProxyEnvironment(Route https, Route http, List<String> noProxy) {
        this(https, http, noProxy, false);
    }

    private ProxyEnvironment(Route https, Route http, List<String> noProxy, boolean explicit) {
        this.https = https;
        this.http = http;
        this.noProxy = noProxy;
        this.explicit = explicit;
    }

    /** One host's {@code proxy} from hosts.toml: overrides the environment for that host, as containerd does. */
    static ProxyEnvironment fixed(URI proxy) {
        Route r = route(proxy.toString(), "hosts.toml proxy");
        return r == null ? NONE : new ProxyEnvironment(r, r, List.of(), true);
    }

    /** From an environment map (the daemon passes {@code System.getenv()}). */
    public static ProxyEnvironment from(Map<String, String> env) {
        Route https = route(first(env, "HTTPS_PROXY", "https_proxy"), "HTTPS_PROXY");
        Route http = route(first(env, "HTTP_PROXY", "http_proxy"), "HTTP_PROXY");
        String no = first(env, "NO_PROXY", "no_proxy");
        List<String> entries = new ArrayList<>();
        if (no != null) {
            for (String e : no.split(",")) {
                String t = e.trim().toLowerCase(Locale.ROOT);
                if (!t.isEmpty()) {
                    entries.add(t);
                }
            }
        }
        if (https == null && http == null) {
            return NONE;
        }
        ProxyEnvironment p = new ProxyEnvironment(https, http, List.copyOf(entries));
        LOG.info("registry proxy: https=" + (https == null ? "none" : https.display) + " http="
                + (http == null ? "none" : http.display) + " no_proxy=" + String.join(",", entries));
        return p;
    }

    private static String first(Map<String, String> env, String upper, String lower) {
        String v = env.get(upper);
        if (v == null || v.isBlank()) {
            v = env.get(lower);
        }
        return v == null || v.isBlank() ? null : v.trim();
    }

    private static Route route(String value, String name) {
        if (value == null) {
            return null;
        }
        URI u;
        try {
            u = URI.create(value.contains("://") ? value : "http://" + value);
        } catch (IllegalArgumentException e) {
            LOG.warning(name + " is not a URL; registry requests go direct");
            return null;
        }
        if (!"http".equalsIgnoreCase(u.getScheme()) || u.getHost() == null) {
            LOG.warning(name + " must be an http:// proxy (Java's HttpClient speaks to proxies in plain HTTP); "
                    + "registry requests go direct");
            return null;
        }
        String auth = null;
        if (u.getRawUserInfo() != null) {
            String ui = u.getRawUserInfo();
            int colon = ui.indexOf(':');
            String user = URLDecoder.decode(colon < 0 ? ui : ui.substring(0, colon), StandardCharsets.UTF_8);
            String pass = colon < 0 ? "" : URLDecoder.decode(ui.substring(colon + 1), StandardCharsets.UTF_8);
            auth = "Basic " + Base64.getEncoder().encodeToString((user + ":" + pass).getBytes(StandardCharsets.UTF_8));
        }
        int port = u.getPort() > 0 ? u.getPort() : 80;
        // Never the credentials in what is shown.
        return new Route(InetSocketAddress.createUnresolved(u.getHost(), port), auth,
                "http://" + (auth != null ? "***@" : "") + u.getHost() + ":" + port);
    }

    /** The proxy for a request URL, or null to go direct. */
    Route routeFor(URI uri) {
        Route r = "https".equalsIgnoreCase(uri.getScheme()) ? https : "http".equalsIgnoreCase(uri.getScheme()) ? http : null;
        if (r == null || uri.getHost() == null) {
            return null;
        }
        int port = uri.getPort() > 0 ? uri.getPort() : "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
        return bypass(uri.getHost(), port) ? null : r;
    }

    /** Whether {@code host:port} goes direct: loopback, or a NO_PROXY match. */
    boolean bypass(String rawHost, int port) {
        if (explicit) {
            return false;
        }
        String host = rawHost.toLowerCase(Locale.ROOT);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.equals("localhost")) {
            return true;
        }
        byte[] ip = literal(host);
        if (ip != null && isLoopback(ip)) {
            return true;
        }
        for (String e : noProxy) {
            if (e.equals("*")) {
                return true;
            }
            if (e.contains("/")) { // CIDR: IP literals only, as Go does (no lookups)
                if (ip != null && inCidr(ip, e)) {
                    return true;
                }
                continue;
            }
            String name = e;
            int entryPort = -1;
            int colon = e.lastIndexOf(':');
            boolean bracketed = e.startsWith("[");
            if (colon > 0 && e.substring(colon + 1).matches("[0-9]{1,5}")
                    && (bracketed ? colon == e.indexOf(']') + 1 : e.indexOf(':') == colon)) {
                name = e.substring(0, colon);
                entryPort = Integer.parseInt(e.substring(colon + 1));
            }
            if (name.startsWith("[") && name.endsWith("]")) {
                name = name.substring(1, name.length() - 1);
            }
            if (entryPort > 0 && entryPort != port) {
                continue;
            }
            byte[] entryIp = literal(name);
            if (entryIp != null) {
                if (ip != null && java.util.Arrays.equals(ip, entryIp)) {
                    return true;
                }
                continue;
            }
            if (name.startsWith("*.")) {
                name = name.substring(1);
            }
            if (name.startsWith(".")) {
                if (host.endsWith(name)) {
                    return true;
                }
            } else if (host.equals(name) || host.endsWith("." + name)) {
                return true;
            }
        }
        return false;
    }

    private static boolean isLoopback(byte[] ip) {
        try {
            return InetAddress.getByAddress(ip).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** The bytes of an IPv4 or IPv6 literal, or null for a name (never resolved). */
    static byte[] literal(String s) {
        if (s.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}") || (s.contains(":") && s.matches("[0-9a-f:.]+"))) {
            try {
                return InetAddress.getByName(s).getAddress();
            } catch (UnknownHostException e) {
                return null;
            }
        }
        return null;
    }

    private static boolean inCidr(byte[] ip, String cidr) {
        int slash = cidr.indexOf('/');
        byte[] net = literal(cidr.substring(0, slash));
        int bits;
        try {
            bits = Integer.parseInt(cidr.substring(slash + 1));
        } catch (NumberFormatException e) {
            return false;
        }
        if (net == null || net.length != ip.length || bits < 0 || bits > ip.length * 8) {
            return false;
        }
        int shift = ip.length * 8 - bits;
        BigInteger a = new BigInteger(1, ip).shiftRight(shift);
        BigInteger b = new BigInteger(1, net).shiftRight(shift);
        return a.equals(b);
    }

    @Override
    public List<Proxy> select(URI uri) {
        Route r = routeFor(uri);
        return r == null ? List.of(Proxy.NO_PROXY) : List.of(new Proxy(Proxy.Type.HTTP, r.address()));
    }

    @Override
    public void connectFailed(URI uri, SocketAddress sa, IOException ioe) {
        LOG.info("proxy " + sa + " failed for " + uri.getScheme() + "://" + uri.getAuthority() + ": " + ioe.getMessage());
    }

    /** Whether any proxy is configured. */
    boolean active() {
        return https != null || http != null;
    }
}
