#!/bin/sh
# PID 1 of the user-mode-linux kernel that run-in-uml.sh boots, until it hands over to systemd:
# the host's root (hostfs) stays read-only; /etc and /var become overlays on tmpfs, /run and /tmp
# are tmpfs, and only the repository (the test classes, target/) and the results directory are
# writable host paths. It then execs Debian's systemd as PID 1, which starts D-Bus and the
# coracle-systemd-tests.service written here: the @Tag("systemd") tests, then a poweroff.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
results=$CORACLE_SD_RESULTS
repo=$CORACLE_SD_REPO
say() { echo "systemd-stage: $*" > /dev/console; }
finish() { # before systemd runs: nothing else will power the machine off
	[ -d "$results" ] && echo "$1" > "$results/exit-code"
	sync
	poweroff -f
}
must() { "$@" || { say "set-up failed: $*"; finish 3; }; }

must mount -t proc proc /proc
must mount -t sysfs sysfs /sys
mountpoint -q /dev || must mount -t devtmpfs devtmpfs /dev
must mount -t tmpfs -o mode=755 tmpfs /run
# Writable host paths first, on their own hostfs mounts (the root below is read-only).
must mkdir -p /run/host-rw/repo /run/host-rw/results
must mount -t hostfs -o "$repo" hostfs /run/host-rw/repo
must mount -t hostfs -o "$results" hostfs /run/host-rw/results
# The kernel's modules: overlay, veth and bridge (modprobe -d wants DIR/lib/modules/<release>).
mkdir -p /run/uml-kmod/lib
ln -s /usr/lib/uml/modules /run/uml-kmod/lib/modules
printf '#!/bin/sh\nexec /usr/sbin/modprobe -d /run/uml-kmod "$@"\n' > /run/uml-kmod/modprobe
chmod 755 /run/uml-kmod/modprobe
echo /run/uml-kmod/modprobe > /proc/sys/kernel/modprobe
for m in overlay veth bridge autofs4; do
	modprobe -d /run/uml-kmod "$m" 2> /dev/null || say "modprobe $m failed"
done
# /etc and /var: the host's, read-only below a tmpfs upper layer.
for d in etc var; do
	must mkdir -p "/run/overlay/$d/upper" "/run/overlay/$d/work"
	must mount -t overlay -o "lowerdir=/$d,upperdir=/run/overlay/$d/upper,workdir=/run/overlay/$d/work" overlay "/$d"
done
must mount -o remount,ro /
must mount -t tmpfs -o mode=1777 tmpfs /tmp
must mkdir -p "$repo"
must mount --move /run/host-rw/repo "$repo"
must mount -t tmpfs -o mode=755 tmpfs /var/lib/cni
# A machine id of its own (the host's /etc is below the overlay, untouched).
rm -f /etc/machine-id
echo "coracle-uml" > /etc/hostname

# The legacy iptables for the CNI plugins (this kernel has no nf_tables NAT), as in the cgroup-v2 stage.
must mkdir -p /run/legacy-iptables
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	ln -s /usr/sbin/xtables-legacy-multi "/run/legacy-iptables/$t"
done

# The units: a target of its own that pulls D-Bus and the tests, nothing else of the host's.
mkdir -p /run/systemd/system
cat > /run/systemd/system/coracle-uml.target <<UNIT
[Unit]
Description=Coracle systemd-driver tests
Requires=dbus.socket coracle-systemd-tests.service
After=dbus.socket
AllowIsolate=yes
UNIT
cat > /run/systemd/system/coracle-systemd-tests.service <<UNIT
[Unit]
Description=Coracle @Tag(systemd) tests
Requires=dbus.socket
After=dbus.socket dbus.service
[Service]
Type=oneshot
Environment=CORACLE_SD_RESULTS=/run/host-rw/results CORACLE_SD_REPO=$repo CORACLE_SD_JAVA=$CORACLE_SD_JAVA CORACLE_SD_TIMEOUT=$CORACLE_SD_TIMEOUT
Environment=PATH=/run/legacy-iptables:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart=$repo/critest/systemd/run-tests.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
Delegate=yes
UNIT
say "handing over to systemd ($(/lib/systemd/systemd --version | head -1))"
exec /lib/systemd/systemd --unit=coracle-uml.target --log-target=console --log-level=warning --show-status=false
