package io.coracle.sandbox;

import io.coracle.sys.PrivateFiles;
import io.coracle.sys.Mounts;
import io.coracle.cri.v1.DNSConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

/** The pod's /etc/resolv.conf, /etc/hosts and /etc/hostname, written under its volatile dir, and its /dev/shm. */
final class PodFiles {
    private static final Pattern DNS_OPTION = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]*(:[0-9]{1,5})?");
    private static final Pattern DNS_SEARCH = Pattern.compile("[A-Za-z0-9_.-]{1,253}");
    private static final Pattern IP_LITERAL = Pattern.compile("[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?");
    private static final Path HOST_RESOLV_CONF = Path.of("/etc/resolv.conf");
    private static final Path HOST_HOSTS = Path.of("/etc/hosts");

    private PodFiles() {}

    /** Rejects what would make a broken resolv.conf; the message names the bad entry. */
    static void validate(DNSConfig dns) {
        for (String s : dns.getServersList()) {
            if (!IP_LITERAL.matcher(s).matches() || !(s.contains(".") || s.contains(":"))) {
                throw new IllegalArgumentException("DNS server '" + s + "' is not an IP address");
            }
        }
        for (String s : dns.getSearchesList()) {
            if (!DNS_SEARCH.matcher(s).matches()) {
                throw new IllegalArgumentException("DNS search domain '" + s + "' is malformed");
            }
        }
        for (String o : dns.getOptionsList()) {
            if (!DNS_OPTION.matcher(o).matches()) {
                throw new IllegalArgumentException("DNS option '" + o + "' is malformed (expected name or name:number)");
            }
        }
    }

    static String resolvConf(DNSConfig dns) throws IOException {
        if (dns.getServersCount() == 0 && dns.getSearchesCount() == 0 && dns.getOptionsCount() == 0) {
            return Files.exists(HOST_RESOLV_CONF) ? Files.readString(HOST_RESOLV_CONF) : "";
        }
        StringBuilder b = new StringBuilder();
        if (dns.getSearchesCount() > 0) {
            b.append("search ").append(String.join(" ", dns.getSearchesList())).append('\n');
        }
        for (String s : dns.getServersList()) {
            b.append("nameserver ").append(s).append('\n');
        }
        if (dns.getOptionsCount() > 0) {
            b.append("options ").append(String.join(" ", dns.getOptionsList())).append('\n');
        }
        return b.toString();
    }

    static void write(Path podDir, DNSConfig dns, String hostname, boolean hostNetwork) throws IOException {
        writeFile(podDir.resolve("resolv.conf"), resolvConf(dns));
        writeFile(podDir.resolve("hostname"), hostname + "\n");
        String hosts;
        if (hostNetwork && Files.exists(HOST_HOSTS)) {
            hosts = Files.readString(HOST_HOSTS);
        } else {
            hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                    + "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
        }
        writeFile(podDir.resolve("hosts"), hosts);
    }

    /** Adds "IP hostname" to the pod's hosts file once the pod has an address. */
    static void addHostEntry(Path podDir, String ip, String hostname) throws IOException {
        Path hosts = podDir.resolve("hosts");
        writeFile(hosts, Files.readString(hosts) + ip + "\t" + hostname + "\n");
    }

    static void mountShm(Path podDir, long sizeBytes) throws IOException {
        Mounts.tmpfs(podDir.resolve("shm"), sizeBytes);
    }

    static void unmountShm(Path podDir) throws IOException {
        Mounts.unmountAll(podDir.resolve("shm"));
    }

    private static void writeFile(Path p, String content) throws IOException {
        // 0644 whatever the umask: every user in the container reads them through their bind mounts.
        PrivateFiles.write(p, content.getBytes(StandardCharsets.UTF_8), PrivateFiles.READABLE, false);
    }
}
