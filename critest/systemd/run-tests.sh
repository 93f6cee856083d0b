#!/bin/sh
# Runs inside user-mode-linux as coracle-systemd-tests.service (systemd is PID 1, D-Bus is up): the
# @Tag("systemd") tests with TaggedTestRunner, then the exit status to $CORACLE_SD_RESULTS/exit-code
# and a poweroff. Started by uml-systemd-init.sh.
results=$CORACLE_SD_RESULTS
repo=$CORACLE_SD_REPO
log=$results/console.log
say() { echo "systemd-stage: $*" | tee -a "$log" > /dev/console; }
: > "$log"
state=$(systemctl is-system-running 2>&1)
say "systemd $(systemctl --version | head -1 | cut -d' ' -f2) up after $(cut -d' ' -f1 /proc/uptime)s ($state); tests in $(cut -d: -f2- /proc/self/cgroup)"
# Where the boot's time went (the slowest units, by start time).
journalctl -b --no-pager -o short-monotonic 2>/dev/null | grep -E 'Start(ed|ing)|Reached|timed out|Timed out' | tail -25 >> "$log"
cd "$repo" || { echo 3 > "$results/exit-code"; systemctl -ff poweroff; }
java=$CORACLE_SD_JAVA/bin/java
timeout -k 10 "$CORACLE_SD_TIMEOUT" "$java" -Xmx320m -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
	-Djava.io.tmpdir=/tmp -Dcoracle.test.serveSeconds=240 -Dcoracle.libexec="$repo/native/target/bin" -Dcoracle.dist="$repo/runtime-service/target/coracle" \
	-cp "$(cat "$results/classpath.txt")" io.coracle.critest.TaggedTestRunner systemd "$results/reports" \
	"$repo/native/target/test-classes" "$repo/runtime-service/target/test-classes" \
	>> "$log" 2>&1
rc=$?
[ $rc -eq 124 ] && say "the tests did not finish within $CORACLE_SD_TIMEOUT s"
# What the tests left: Coracle's units and cgroups.
left=$(systemctl list-units --all --plain --no-legend 'coracle-*.scope' 'coracle-*.slice' 2>/dev/null)
[ -z "$left" ] || { say "units left behind:"; echo "$left" | tee -a "$log" > /dev/console; [ $rc -eq 0 ] && rc=4; }
echo $rc > "$results/exit-code"
sync
systemctl -ff poweroff
