#!/usr/bin/env bash
# Makes the release artifacts from the built distribution (runtime-service/target/coracle):
#   coracle-VERSION-linux-ARCH.tar.gz  a tree to unpack at /: opt/coracle (a jlink'd Java runtime with
#                                      only the modules the daemon uses, the jars, the static
#                                      coracle-shim/coracle-pause, jvm.options, the launcher),
#                                      usr/local/bin/coracle, etc/coracle/coracle.toml,
#                                      etc/systemd/system/coracle.service
#   coracle_VERSION_ARCH.deb           the same content (the unit in lib/systemd/system), with
#                                      coracle.toml as a conffile; postinst enables the unit, never starts it.
# and, with IMAGE_DIR, the parts of the container image that Jib assembles (Maven profile "dist"):
#   IMAGE_DIR/base.tar                 a docker-load base image built here: busybox with its applet
#                                      links and the C libraries that it and the Java runtime link against
#   IMAGE_DIR/root                     the tarball's tree as regular files (Jib copies symlinks as files)
# Usage: make-release.sh DIST_DIR OUT_DIR VERSION [IMAGE_DIR]   (JAVA_HOME: the JDK whose jlink and jdeps to use)
# Run by `./coracle dist` (Maven profile "dist"). Installing needs no Maven, JDK or compiler.
set -euo pipefail
dist=$(readlink -f "$1") out=$2 version=$3
here=$(cd "$(dirname "$0")" && pwd)
jdk=${JAVA_HOME:?JAVA_HOME must name a JDK with jlink}
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
deb_version=${version//-SNAPSHOT/~snapshot}
name=coracle-$version-linux-$arch

rm -rf "$out" && mkdir -p "$out"
out=$(readlink -f "$out")
stage=$out/stage
home=$stage/opt/coracle
mkdir -p "$home" "$stage/usr/local/bin" "$stage/etc/coracle" "$stage/etc/systemd/system"

# The modules the daemon and its libraries use (jdeps), plus those loaded by name at run time:
# jdk.management (process CPU and memory metrics), jdk.crypto.cryptoki is not needed; the
# charsets and locale data are not either.
modules=$("$jdk/bin/jdeps" --ignore-missing-deps --print-module-deps --multi-release 21 \
  --class-path "$dist/lib/*" "$dist/lib/coracle.jar")
# jdk.net and jdk.security.auth: the D-Bus transport (peer credentials, SASL EXTERNAL uid) of the systemd cgroup driver.
modules="$modules,jdk.management,jdk.unsupported,jdk.naming.dns,jdk.crypto.ec,jdk.net,jdk.security.auth,java.xml"
# jdk.crypto.ec is empty (merged into java.base) on newer JDKs, but present: keep only modules that exist.
available=$("$jdk/bin/java" --list-modules | sed 's/@.*//')
modules=$(tr ',' '\n' <<<"$modules" | sort -u | grep -Fxf <(echo "$available") | paste -sd, -)
echo "jlink modules: $modules"
"$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
  --compress=zip-6 --generate-cds-archive --output "$home/jre"

cp -a "$dist/lib" "$dist/libexec" "$home/"
cp "$dist/jvm.options" "$home/jvm.options"
java_major=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/jre/release")
if [[ ${java_major:-0} -ge 23 ]]; then
  # protobuf's and Netty's sun.misc.Unsafe use warns on JDK 23+ unless allowed.
  echo "--sun-misc-unsafe-memory-access=allow" >>"$home/jvm.options"
fi
mkdir -p "$home/bin"
install -m 0755 "$here/coracle-launcher.sh" "$home/bin/coracle"
ln -s ../../../opt/coracle/bin/coracle "$stage/usr/local/bin/coracle"
cp "$dist/coracle.service" "$stage/etc/systemd/system/coracle.service"
# The default config: every key, commented out (the built-in defaults apply until a line is set).
"$home/jre/bin/java" @"$home/jvm.options" -jar "$home/lib/coracle.jar" config default \
  | sed -E 's/^([a-z_]+ = )/# \1/' >"$stage/etc/coracle/coracle.toml"
echo "$version" >"$home/VERSION"

tar --owner=0 --group=0 --numeric-owner -C "$stage" -czf "$out/$name.tar.gz" .

if [[ -n ${4:-} ]]; then
  "$here/make-image-base.sh" "$stage" "$4" "$version"
fi

# The Debian package: the same tree, the unit where packages put theirs.
deb=$out/deb
cp -a "$stage" "$deb"
mkdir -p "$deb/lib/systemd/system" "$deb/DEBIAN"
mv "$deb/etc/systemd/system/coracle.service" "$deb/lib/systemd/system/coracle.service"
rmdir "$deb/etc/systemd/system" "$deb/etc/systemd"
size_kb=$(du -sk --exclude=DEBIAN "$deb" | cut -f1)
cat >"$deb/DEBIAN/control" <<CONTROL
Package: coracle
Version: $deb_version
Architecture: $arch
Maintainer: Coracle developers <coracle@localhost>
Installed-Size: $size_kb
Section: admin
Priority: optional
Recommends: containernetworking-plugins, iptables, iproute2
Suggests: runc, crun
Homepage: https://github.com/coracle-runtime/coracle
Description: Kubernetes CRI container runtime
 Coracle implements the Kubernetes Container Runtime Interface (CRI) on a unix
 socket for the kubelet and crictl. The package is self-contained: a trimmed
 Java runtime, the daemon's jars and its static C shim and pause programs.
CONTROL
echo /etc/coracle/coracle.toml >"$deb/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$deb/DEBIAN/postinst"
install -m 0755 "$here/prerm" "$deb/DEBIAN/prerm"
install -m 0755 "$here/postrm" "$deb/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zgzip --build "$deb" "$out/coracle_${deb_version}_$arch.deb" >/dev/null
rm -rf "$stage" "$deb"
ls -l "$out"
