#!/usr/bin/env bash
# Measures the daemon's start-up (launch until the CRI socket exists, which is when it serves)
# and its idle RSS, over N runs on a temp socket and root. Usage: daemon-startup.sh [N]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-10}
"$top/coracle" build >/dev/null
dir=$(mktemp -d /tmp/coracle-bench-XXXXXX)
trap 'rm -rf "$dir"' EXIT
times=() rss=()
for ((i = 0; i < runs; i++)); do
  rm -rf "$dir"/*
  t0=$(date +%s%N)
  # Its own CNI dir and a free metrics port: never touch or collide with a daemon on the default paths.
  printf '[cni]\nconf_dir = "%s/cni"\ndefault_bridge = "crbench0"\n[metrics]\nport = 0\n' "$dir" > "$dir/coracle.toml"
  "$top/coracle" daemon --config "$dir/coracle.toml" --socket "$dir/c.sock" --root "$dir/root" --state "$dir/state" 2>"$dir/log" &
  pid=$!
  until [[ -S "$dir/c.sock" ]]; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/log"; exit 1; }
    sleep 0.005
  done
  times+=($(( ($(date +%s%N) - t0) / 1000000 )))
  sleep 2 # idle
  rss+=($(awk '/^VmRSS/ {print $2}' "/proc/$pid/status"))
  kill -TERM "$pid"
  wait "$pid" || true
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "runs: $runs"
echo "startup ms (launch to socket): median $(median "${times[@]}")  all: ${times[*]}"
echo "idle RSS KiB: median $(median "${rss[@]}")"
