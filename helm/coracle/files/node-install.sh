#!/bin/sh
# Moves a node onto Coracle run by the host's systemd, or back off it: the chart's DaemonSet
# (install.mode: host) runs it from Coracle's own image, which holds the release at /opt/coracle and
# the unit at /etc/systemd/system/coracle.service (the tarball's layout).
#
#   node-install.sh install    copy the release to the host's /opt/coracle/releases/<id> (current ->
#                              it), write /etc/systemd/system/coracle.service and
#                              /etc/coracle/coracle.toml, enable and (re)start the unit
#   node-install.sh run        install, then wait for SIGTERM (the DaemonSet's container)
#   node-install.sh uninstall  refuse while the kubelet uses Coracle; else stop and disable the unit
#                              and remove what install wrote (a config found before is restored)
#
# Environment: HOST_ROOT, the host's / as mounted here (/host: its /opt/coracle, /etc/coracle,
# /etc/systemd/system and /run/systemd); IMAGE_ROOT, where the release is (/); CONFIG_FILE, the
# coracle.toml to install; SOCKET, Coracle's CRI socket; PROC, the host's /proc (the pod has hostPID);
# SYSTEMCTL, the command reaching the host's systemd (default: systemctl run by nsenter in PID 1's
# mount namespace); NODE_NAME, this node; KUBECTL, the command that labels it (default: the host's
# kubectl with the kubelet's own credentials, /etc/kubernetes/kubelet.conf, which NodeRestriction lets
# label only its own node; best effort: no kubectl or no kubelet.conf on the host, no label).
set -eu
host=${HOST_ROOT:-/host}
image=${IMAGE_ROOT:-}
config=${CONFIG_FILE:-/etc/coracle-chart/coracle.toml}
socket=${SOCKET:-/run/coracle/coracle.sock}
proc=${PROC:-/proc}
unit=coracle.service
home=$host/opt/coracle
unit_file=$host/etc/systemd/system/$unit
conf_dir=$host/etc/coracle
marker="# Written by the Coracle chart (node-install.sh)"

log() { echo "node-install: $*"; }
die() { log "$*" >&2; exit 1; }

host_systemctl() {
  if [ -n "${SYSTEMCTL:-}" ]; then
    # shellcheck disable=SC2086
    $SYSTEMCTL "$@"
  else
    nsenter --target 1 --mount -- systemctl "$@"
  fi
}

# Labels this node coracle.io/runtime=VALUE, or removes the label ("-"); never fails the install.
label_node() {
  [ -n "${NODE_NAME:-}" ] || return 0
  case $NODE_NAME in *[!a-z0-9.-]*) log "bad node name '$NODE_NAME'"; return 0 ;; esac
  if [ "$1" = "-" ]; then label=coracle.io/runtime-; else label=coracle.io/runtime=$1; fi
  if [ -n "${KUBECTL:-}" ]; then
    # shellcheck disable=SC2086
    $KUBECTL label --overwrite node "$NODE_NAME" "$label" >/dev/null || log "cannot label node $NODE_NAME"
  elif nsenter --target 1 --mount -- sh -c 'command -v kubectl && test -r /etc/kubernetes/kubelet.conf' >/dev/null 2>&1; then
    nsenter --target 1 --mount -- kubectl --kubeconfig /etc/kubernetes/kubelet.conf label --overwrite node "$NODE_NAME" "$label" \
      >/dev/null || log "cannot label node $NODE_NAME"
  else
    log "node $NODE_NAME not labelled: no kubectl or /etc/kubernetes/kubelet.conf on the host"
  fi
}

# The release's id: its version and a digest of its jars and programs (snapshots share a version).
release_id() {
  version=$(head -c 64 "$image/opt/coracle/VERSION")
  case $version in '' | *[!A-Za-z0-9._~+-]*) die "bad release version '$version'" ;; esac
  sum=$(cd "$image/opt/coracle" && find lib libexec bin -type f | sort | xargs cat | sha256sum | cut -c1-12)
  echo "$version-$sum"
}

install_release() {
  [ -d "$host/run/systemd/system" ] || die "the host does not run systemd ($host/run/systemd/system is missing)"
  if [ -e "$home/lib" ] || [ -e "$home/jre" ]; then
    die "$home holds a release installed by other means (the coracle package or the tarball): remove it first"
  fi
  id=$(release_id)
  mkdir -p "$home/releases"
  if [ ! -f "$home/releases/$id/VERSION" ]; then
    rm -rf "$home/releases/.$id.tmp"
    cp -a "$image/opt/coracle" "$home/releases/.$id.tmp"
    mv "$home/releases/.$id.tmp" "$home/releases/$id"
    log "copied release $id to /opt/coracle/releases/$id"
  fi
  changed=no
  if [ "$(readlink "$home/current" 2>/dev/null)" != "releases/$id" ]; then
    ln -sfn "releases/$id" "$home/current"
    changed=yes
  fi

  tmp=$unit_file.tmp
  { echo "$marker; removed when the chart is uninstalled."
    sed 's#^ExecStart=.*#ExecStart=/opt/coracle/current/bin/coracle daemon --config /etc/coracle/coracle.toml#' \
      "$image/etc/systemd/system/$unit"
  } >"$tmp"
  if cmp -s "$tmp" "$unit_file"; then rm -f "$tmp"; else mv -f "$tmp" "$unit_file"; changed=yes; fi

  mkdir -p "$conf_dir"
  if [ -f "$conf_dir/coracle.toml" ] && [ ! -f "$conf_dir/.chart-installed" ] && [ ! -f "$conf_dir/coracle.toml.pre-chart" ]; then
    cp -p "$conf_dir/coracle.toml" "$conf_dir/coracle.toml.pre-chart"
    log "kept the node's own config as /etc/coracle/coracle.toml.pre-chart"
  fi
  if ! cmp -s "$config" "$conf_dir/coracle.toml"; then
    cp "$config" "$conf_dir/coracle.toml.tmp"
    chmod 0644 "$conf_dir/coracle.toml.tmp"
    mv -f "$conf_dir/coracle.toml.tmp" "$conf_dir/coracle.toml"
    changed=yes
  fi
  echo "$id" >"$conf_dir/.chart-installed"

  host_systemctl daemon-reload
  host_systemctl enable "$unit"
  if [ "$changed" = yes ] && host_systemctl is-active --quiet "$unit"; then
    # KillMode=process: only the daemon restarts; the shims and containers keep running.
    host_systemctl restart "$unit"
  else
    host_systemctl start "$unit"
  fi
  for old in "$home"/releases/*; do
    [ "$old" = "$home/releases/$id" ] || rm -rf "$old"
  done
  label_node installed
  log "coracle.service runs release $id (kubelet: --container-runtime-endpoint=unix://$socket)"
}

# Whether a kubelet on the host talks to Coracle's socket (a flag, or containerRuntimeEndpoint in its --config file).
kubelet_uses_coracle() {
  for cmdline in "$proc"/[0-9]*/cmdline; do
    [ -r "$cmdline" ] || continue
    args=$(tr '\0' '\n' <"$cmdline" 2>/dev/null | head -c 65536) || continue
    case $(echo "$args" | head -n 1) in */kubelet | kubelet) ;; *) continue ;; esac
    # Only the host's kubelet: a process of a pod (another root) may call itself kubelet.
    pid_dir=$(dirname "$cmdline")
    root_id=$(stat -L -c %d:%i "$pid_dir/root" 2>/dev/null) || continue
    [ "$root_id" = "$(stat -L -c %d:%i "$proc/1/root" 2>/dev/null)" ] || continue
    echo "$args" | grep -q -- "--container-runtime-endpoint=unix://$socket\$" && return 0
    cfg=$(echo "$args" | sed -n 's/^--config=//p' | head -n 1)
    # A regular file only: a FIFO there would hang the uninstall.
    if [ -n "$cfg" ] && [ -f "$pid_dir/root$cfg" ]; then
      head -c 1048576 "$pid_dir/root$cfg" 2>/dev/null | grep -q "containerRuntimeEndpoint:.*unix://$socket" && return 0
    fi
  done
  return 1
}

uninstall_release() {
  if kubelet_uses_coracle; then
    die "the kubelet still uses unix://$socket: point it back at the previous runtime first (see the chart's README)"
  fi
  if [ -f "$unit_file" ] && head -n 1 "$unit_file" | grep -q "^$marker"; then
    host_systemctl disable --now "$unit" || log "cannot stop or disable $unit"
    rm -f "$unit_file"
    host_systemctl daemon-reload || true
  fi
  rm -rf "$home/releases" "$home/current"
  if [ -f "$conf_dir/.chart-installed" ]; then
    rm -f "$conf_dir/coracle.toml" "$conf_dir/.chart-installed"
    if [ -f "$conf_dir/coracle.toml.pre-chart" ]; then
      mv -f "$conf_dir/coracle.toml.pre-chart" "$conf_dir/coracle.toml"
    fi
  fi
  label_node -
  log "Coracle removed from the node (its state in /var/lib/coracle and /run/coracle is kept)"
}

case ${1:-} in
  install) install_release ;;
  uninstall) uninstall_release ;;
  run | run-uninstall)
    if [ "$1" = run ]; then install_release; else uninstall_release; fi
    touch /tmp/node-install.done
    trap 'exit 0' TERM INT
    while :; do sleep 3600 & wait $!; done ;;
  *) die "usage: node-install.sh install|uninstall|run|run-uninstall" ;;
esac
