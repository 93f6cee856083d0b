#!/bin/sh
# PID 1 of the user-mode-linux kernel that run-in-uml.sh boots (the host's root through hostfs):
# sets up a pure cgroup v2 machine, runs the @Tag("cgroup") tests with TaggedTestRunner, writes
# the exit status to $CORACLE_V2_RESULTS/exit-code and powers off. The kernel passes the
# CORACLE_V2_* parameters of its command line as environment variables.
#
# Everything mounted here lives in the UML kernel only; the host sees just the files written
# through hostfs (the results directory). Test roots go to tmpfs (/tmp, /run), never hostfs.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
results=$CORACLE_V2_RESULTS
repo=$CORACLE_V2_REPO
log=$results/console.log

say() { echo "cgroup-v2: $*" | tee -a "$log" > /dev/console; }
finish() {
	echo "$1" > "$results/exit-code"
	sync
	poweroff -f
}
must() { "$@" || { say "set-up failed: $*"; finish 3; }; }

: > "$log"
must mount -t proc proc /proc
must mount -t sysfs sysfs /sys
must mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
# A repository under /tmp or /run (a CI clone) would vanish under their tmpfs: it is bound to /mnt
# first and moved back to its own path on the tmpfs, so every path in the classpath still holds.
case "$repo/" in /tmp/*|/run/*) keep_repo=1 ;; *) keep_repo=0 ;; esac
[ $keep_repo = 0 ] || must mount --bind "$repo" /mnt
must mount -t tmpfs -o mode=1777 tmpfs /tmp
must mount -t tmpfs -o mode=755 tmpfs /run
if [ $keep_repo = 1 ]; then
	must mkdir -p "$repo"
	must mount --move /mnt "$repo"
fi
# IPAM state of the CNI plugins would otherwise land in the host's /var/lib/cni.
must mount -t tmpfs -o mode=755 tmpfs /var/lib/cni
mountpoint -q /dev || must mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
must mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
must mount -t tmpfs -o mode=1777 tmpfs /dev/shm
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx

# Debian keeps this kernel's modules in /usr/lib/uml/modules/<release>; modprobe -d wants
# DIR/lib/modules/<release>, made here on tmpfs (the host has no /lib/modules to bind). The
# kernel's own module requests (iptables' tables and matches) go through the same directory.
mkdir -p /run/uml-kmod/lib
ln -s /usr/lib/uml/modules /run/uml-kmod/lib/modules
printf '#!/bin/sh\nexec /usr/sbin/modprobe -d /run/uml-kmod "$@"\n' > /run/uml-kmod/modprobe
chmod 755 /run/uml-kmod/modprobe
echo /run/uml-kmod/modprobe > /proc/sys/kernel/modprobe
for m in overlay veth bridge; do
	modprobe -d /run/uml-kmod "$m" 2>> "$log" || say "modprobe $m failed: tests that need it fail"
done
must ip link set lo up
# This kernel has the legacy iptables tables (iptable_nat) but no nf_tables NAT chain, and Debian's
# iptables is the nf_tables one: the CNI plugins' iptables calls (bridge ipMasq, portmap) get
# the legacy variant from /usr/local/sbin, first on the PATH Coracle gives them (a tmpfs here).
must mount -t tmpfs -o mode=755 tmpfs /usr/local/sbin
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
	ln -s /usr/sbin/xtables-legacy-multi "/usr/local/sbin/$t"
done
export PATH=/usr/local/sbin:$PATH
hostname coracle-uml

# Every controller the kernel offers, delegated from the root as systemd does on a v2 host.
controllers=$(cat /sys/fs/cgroup/cgroup.controllers)
for c in $controllers; do
	echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control || say "cannot enable the $c controller"
done
say "kernel $(uname -r), $(nproc) CPU, $(awk '/MemTotal/ {print $2 / 1024 " MiB"}' /proc/meminfo), cgroup2 controllers: $controllers"

cd "$repo" || finish 3
java=$CORACLE_V2_JAVA/bin/java
# Small heaps and C1 only: this kernel runs on one virtual CPU, without KVM.
timeout -k 10 "$CORACLE_V2_TIMEOUT" "$java" -Xmx320m -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
	-Djava.io.tmpdir=/tmp -Dcoracle.libexec="$repo/native/target/bin" -Dcoracle.dist="$repo/runtime-service/target/coracle" \
	-cp "$(cat "$results/classpath.txt")" io.coracle.critest.TaggedTestRunner cgroup "$results/reports" \
	"$repo/native/target/test-classes" "$repo/pod-sandbox/target/test-classes" "$repo/runtime-service/target/test-classes" \
	>> "$log" 2>&1
rc=$?
[ $rc -eq 124 ] && say "the tests did not finish within $CORACLE_V2_TIMEOUT s"

# What the tests left in this kernel: nothing, if they cleaned up.
left=$(find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null)
[ -z "$left" ] || { say "cgroups left behind:"; echo "$left" | tee -a "$log" > /dev/console; [ $rc -eq 0 ] && rc=4; }
mounts=$(grep -E ' (overlay|nsfs) ' /proc/mounts)
[ -z "$mounts" ] || { say "mounts left behind:"; echo "$mounts" | tee -a "$log" > /dev/console; [ $rc -eq 0 ] && rc=4; }
finish $rc
