#!/usr/bin/env bash
# The container image's parts, from the release tree STAGE (see make-release.sh):
#   IMAGE_DIR/base.tar  a docker-load archive of one layer: /bin/busybox with a link per applet (the
#                       chart's node-install script and the launcher need a shell, cp, nsenter), the
#                       shared libraries that busybox and the jlink'd Java runtime load, /tmp, /var/tmp.
#   IMAGE_DIR/root      STAGE without its symlinks (/usr/local/bin/coracle: the entrypoint is
#                       /opt/coracle/bin/coracle), for Jib's extraDirectories.
# Usage: make-image-base.sh STAGE IMAGE_DIR VERSION
set -euo pipefail
stage=$(readlink -f "$1") img=$2 version=$3
rm -rf "$img" && mkdir -p "$img"
img=$(readlink -f "$img")
base=$img/base-root
mkdir -p "$base/bin" "$base/tmp" "$base/var/tmp" "$base/etc"
chmod 1777 "$base/tmp" "$base/var/tmp"
busybox=$(command -v busybox) || { echo "make-image-base.sh: busybox is needed for the image's shell" >&2; exit 1; }
cp -L "$busybox" "$base/bin/busybox"
for applet in $("$base/bin/busybox" --list); do
  [[ -e $base/bin/$applet ]] || ln -s busybox "$base/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$base/etc/passwd"
echo "root:x:0:" >"$base/etc/group"

# Every library an ELF file of busybox or the Java runtime needs, at the path the loader looks it up.
libs=$( { ldd "$base/bin/busybox"
          # Not the X11 and sound libraries of java.desktop: the daemon is headless, they never load.
          find "$stage/opt/coracle/jre" -type f \( -name '*.so' -o -perm -u+x \) \
            ! -name libawt_xawt.so ! -name libjawt.so ! -name libjsound.so ! -name libsplashscreen.so -exec sh -c 'file -b "$1" | grep -q "^ELF" && ldd "$1"' _ {} \; ; } 2>/dev/null \
        | grep -oE '/[^ ]+\.so[^ ]*' | sort -u)
for lib in $libs; do
  case $lib in "$stage"/*) continue ;; esac
  mkdir -p "$base$(dirname "$lib")"
  cp -L "$lib" "$base$lib"
done

# One uncompressed layer, reproducible (sorted names, owner root, fixed times).
(cd "$base" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$img/layer.tar" .)
diff_id=$(sha256sum "$img/layer.tar" | cut -d' ' -f1)
cat >"$img/config.json" <<CONFIG
{"architecture":"$(dpkg --print-architecture 2>/dev/null || echo amd64)","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"make-image-base.sh: busybox and shared libraries"}]}
CONFIG
config_id=$(sha256sum "$img/config.json" | cut -d' ' -f1)
mkdir -p "$img/base/$diff_id"
mv "$img/layer.tar" "$img/base/$diff_id/layer.tar"
mv "$img/config.json" "$img/base/$config_id.json"
echo "[{\"Config\":\"$config_id.json\",\"RepoTags\":[\"coracle-base:$version\"],\"Layers\":[\"$diff_id/layer.tar\"]}]" >"$img/base/manifest.json"
(cd "$img/base" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$img/base.tar" manifest.json "$config_id.json" "$diff_id")
rm -rf "$img/base" "$base"

# The release tree for Jib: regular files and directories only.
mkdir -p "$img/root"
cp -a "$stage/." "$img/root/"
find "$img/root" -type l -delete
