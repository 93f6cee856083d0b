#!/bin/sh
# coracle: runs the daemon or a CLI command with the Java runtime shipped beside it
# (/opt/coracle/jre); /usr/local/bin/coracle links here. CORACLE_JAVA_OPTS adds JVM flags.
set -eu
# Two malloc arenas, not one per thread that ever called malloc (8 per core): idle RSS. As ./coracle runs it.
MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
export MALLOC_ARENA_MAX
home=$(dirname "$(dirname "$(readlink -f "$0")")")
# A class-data archive (written on first use where root may write) halves the start-up.
cache=${CORACLE_CACHE_DIR:-/var/cache/coracle}
cds=""
if [ "$(id -u)" = 0 ] && mkdir -p "$cache" 2>/dev/null; then
  cds="-XX:+AutoCreateSharedArchive -XX:SharedArchiveFile=$cache/coracle-$(cat "$home/VERSION").jsa -Xlog:cds=off -Xlog:cds+dynamic=off"
fi
# shellcheck disable=SC2086
exec "$home/jre/bin/java" @"$home/jvm.options" $cds ${CORACLE_JAVA_OPTS:-} -jar "$home/lib/coracle.jar" "$@"
