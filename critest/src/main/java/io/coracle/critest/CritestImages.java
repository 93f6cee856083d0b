package io.coracle.critest;

import io.coracle.testing.ImageBuilder;
import io.coracle.testing.LocalRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Builds the images the CRI validation suite pulls, from Debian packages (busybox, procps,
 * util-linux, nginx-light, apache2-bin) and a small setuid program compiled here, and pushes them
 * under the names critest uses (the registry host is swapped by Coracle's mirror configuration).
 */
final class CritestImages {
    static final String E2E = "e2e-test-images/";
    static final String CRI_TOOLS = "k8s-staging-cri-tools/";

    private final LocalRegistry registry;
    private final Path work;

    CritestImages(LocalRegistry registry, Path work) {
        this.registry = registry;
        this.work = work;
    }

    void pushAll() throws IOException, InterruptedException {
        testBusybox().push(registry, E2E + "busybox", "1.29-2");
        nginx(80).push(registry, E2E + "nginx", "1.14-2");
        nginx(12003).push(registry, CRI_TOOLS + "hostnet-nginx-amd64", "latest");
        httpd().push(registry, E2E + "httpd", "2.4.39-4");
        nonewprivs().push(registry, E2E + "nonewprivs", "1.3");

        ImageBuilder predefined = testBusybox();
        predefined.text("etc/passwd", 0644, "root:x:0:0:root:/root:/bin/sh\ndefault-user:x:1000:1000::/home/default-user:/bin/sh\n")
                .text("etc/group", 0644, "root:x:0:\ndefault-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n")
                .user("1000");
        predefined.push(registry, CRI_TOOLS + "test-image-predefined-group", "latest");

        testBusybox().user("1002").push(registry, CRI_TOOLS + "test-image-user-uid", "latest");
        testBusybox().user("www-data").push(registry, CRI_TOOLS + "test-image-user-username", "latest");
        testBusybox().user("1003:1004").push(registry, CRI_TOOLS + "test-image-user-uid-group", "latest");
        testBusybox().user("www-data:1004").push(registry, CRI_TOOLS + "test-image-user-username-group", "latest");

        testBusybox().text("test", 0644, "").push(registry, CRI_TOOLS + "test-image-tag", "test");
        testBusybox().text("all", 0644, "").push(registry, CRI_TOOLS + "test-image-tag", "all");
        testBusybox().text("test-image-latest", 0644, "").push(registry, CRI_TOOLS + "test-image-latest", "latest");
        for (int i = 1; i <= 3; i++) {
            testBusybox().text("test-image-" + i, 0644, "").push(registry, CRI_TOOLS + "test-image-" + i, "latest");
        }
        testBusybox().text("same-image", 0644, "").push(registry, CRI_TOOLS + "test-image-tags", "1", "2", "3");
    }

    /** busybox plus the procps and util-linux programs critest runs that Debian's busybox lacks. */
    private ImageBuilder testBusybox() throws IOException, InterruptedException {
        return ImageBuilder.busybox()
                .hostProgram("/usr/bin/pgrep", "bin/pgrep")
                .hostProgram("/usr/bin/ipcs", "bin/ipcs");
    }

    /** Debian's nginx serving / on {@code port}, writing /var/run/nginx.pid, in the foreground. */
    private ImageBuilder nginx(int port) throws IOException, InterruptedException {
        return testBusybox()
                .hostProgram("/usr/sbin/nginx", "usr/sbin/nginx")
                .file("etc/nginx/mime.types", 0644, Files.readAllBytes(Path.of("/etc/nginx/mime.types")))
                .text("etc/nginx/nginx.conf", 0644, """
                        user root;
                        worker_processes 1;
                        pid /var/run/nginx.pid;
                        error_log stderr;
                        events { worker_connections 64; }
                        http {
                            include /etc/nginx/mime.types;
                            access_log /dev/stdout;
                            server {
                                listen %d;
                                location / { root /usr/share/nginx/html; }
                            }
                        }
                        """.formatted(port))
                .text("usr/share/nginx/html/index.html", 0644, "<h1>coracle critest nginx</h1>\n")
                .dir("var/log/nginx", 0755)
                .dir("var/lib/nginx", 0755)
                .cmd("nginx", "-g", "daemon off;");
    }

    /** Debian's Apache run as {@code httpd -D FOREGROUND}, serving / on port 80. */
    private ImageBuilder httpd() throws IOException, InterruptedException {
        ImageBuilder b = testBusybox().hostProgram("/usr/sbin/apache2", "usr/local/bin/httpd");
        List<String> modules = List.of("mpm_event", "authz_core", "dir", "mime", "unixd");
        StringBuilder conf = new StringBuilder();
        for (String m : modules) {
            String so = "/usr/lib/apache2/modules/mod_" + m + ".so";
            if (Files.exists(Path.of(so))) {
                b.file(so, 0644, Files.readAllBytes(Path.of(so))).libraries(so);
                conf.append("LoadModule ").append(m).append("_module ").append(so).append('\n');
            }
        }
        conf.append("""
                ServerRoot /etc/apache2
                ServerName localhost
                Listen 80
                User www-data
                Group www-data
                PidFile /var/run/httpd.pid
                Mutex file:/var/run
                ErrorLog /proc/self/fd/2
                LogLevel info
                DocumentRoot /var/www/html
                DirectoryIndex index.html
                TypesConfig /etc/mime.types
                """);
        return b.text("etc/apache2/apache2.conf", 0644, conf.toString())
                .text("etc/mime.types", 0644, "text/html html\n")
                .text("var/www/html/index.html", 0644, "<h1>coracle critest httpd</h1>\n")
                .cmd("httpd", "-D", "FOREGROUND");
    }

    /** A setuid-root program that prints its effective uid, run as uid 1000 (no_new_privs keeps it 1000). */
    private ImageBuilder nonewprivs() throws IOException, InterruptedException {
        Path src = Files.writeString(work.resolve("nnp.c"), """
                #include <stdio.h>
                #include <unistd.h>
                int main(void) { printf("Effective uid: %d\\n", (int)geteuid()); return 0; }
                """);
        Path bin = work.resolve("nnp");
        Process cc = new ProcessBuilder("gcc", "-static", "-O2", "-o", bin.toString(), src.toString())
                .redirectErrorStream(true).start();
        String out = new String(cc.getInputStream().readAllBytes());
        if (cc.waitFor() != 0) {
            throw new IOException("gcc failed building the nonewprivs test program: " + out);
        }
        return testBusybox().file("usr/local/bin/nnp", 04755, Files.readAllBytes(bin)).cmd("nnp");
    }
}
