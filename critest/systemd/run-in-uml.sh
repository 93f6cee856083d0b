#!/usr/bin/env bash
# The systemd stage: boots Debian's user-mode-linux (as the cgroup-v2 stage does) with Debian's
# systemd as PID 1 and D-Bus on the system bus, and runs every test tagged @Tag("systemd") inside
# it (uml-systemd-init.sh, then run-tests.sh as a systemd service). The host's root is read-only
# in there; /etc and /var are overlays on tmpfs. Needs a build with test classes (mvn verify or
# package: each module's target/test-classpath.txt) and the daemon's distribution directory.
#
#   critest/systemd/run-in-uml.sh         (or ./coracle test-systemd, which builds first)
#
# Results land in critest/target/systemd/ (console.log, reports/TEST-*.xml, summary.txt,
# exit-code). Exit status: the tests' (0 all passed), or 1 when the machine did not report.
# Environment: CORACLE_SD_TIMEOUT (seconds for the tests, default 600), CORACLE_SD_MEM (default 1536M).
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
results=$repo/critest/target/systemd
timeout=${CORACLE_SD_TIMEOUT:-600}
mem=${CORACLE_SD_MEM:-1536M}
say() { printf 'systemd-stage: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

linux=$(command -v linux || true)
[[ -n "$linux" && -d /usr/lib/uml/modules ]] || die "user-mode-linux is not installed (Debian package user-mode-linux)"
[[ -x /lib/systemd/systemd ]] || die "systemd is not installed (Debian package systemd): nothing to boot"
[[ -x /usr/bin/dbus-daemon ]] || die "dbus is not installed (Debian package dbus): systemd would have no bus"
[[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]] || die "JAVA_HOME must name a JDK 21+"
modules=(native runtime-service critest)
for m in "${modules[@]}"; do
	[[ -f "$repo/$m/target/test-classpath.txt" ]] || die "$m/target/test-classpath.txt is missing: build first (mvn -DskipTests package)"
done
[[ -f "$repo/runtime-service/target/coracle/lib/coracle.jar" ]] || die "runtime-service/target/coracle is missing: build first"

rm -rf "$results"
mkdir -p "$results/reports"
{
	for m in native runtime-service; do echo "$repo/$m/target/test-classes"; done
	for m in cri-api native image-service pod-sandbox runtime-service critest/fixtures critest; do
		echo "$repo/$m/target/classes"
	done
	for m in "${modules[@]}"; do
		tr ':' '\n' < "$repo/$m/target/test-classpath.txt" | grep -v -e '/io/coracle/' -e "^$repo/"
	done
} | awk 'NF && !seen[$0]++' | paste -sd: > "$results/classpath.txt"

# A host XSAVE area larger than this UML's buffer (AVX-512, AMX): see critest/cgroup-v2/uml-xstate.c.
xstate=$("$repo/critest/cgroup-v2/build-uml-xstate.sh" "$results") || die "cannot build uml-xstate.so"
export TMPDIR=/dev/shm # UML backs its memory with a file there
start=$(date +%s)
say "booting user-mode-linux with systemd as PID 1 (mem=$mem); tests time out after ${timeout}s"
LD_PRELOAD="$xstate" setsid "$linux" mem="$mem" rootfstype=hostfs rootflags=/ rw quiet con=null con0=null,fd:2 \
	init="$repo/critest/systemd/uml-systemd-init.sh" \
	CORACLE_SD_RESULTS="$results" CORACLE_SD_REPO="$repo" CORACLE_SD_JAVA="$JAVA_HOME" \
	CORACLE_SD_TIMEOUT="$timeout" < /dev/null > "$results/kernel.log" 2>&1 &
uml=$!
trap 'kill -KILL -- "-$uml" 2> /dev/null || true' EXIT
trap 'exit 130' INT TERM
deadline=$((start + timeout + 300)) # systemd's boot under a loaded host takes minutes
while kill -0 "$uml" 2> /dev/null; do
	if (($(date +%s) > deadline)); then
		say "user-mode-linux still running $((deadline - start))s after boot: killing it (process group $uml)"
		kill -KILL -- "-$uml" 2> /dev/null || true
		break
	fi
	sleep 2
done
wait "$uml" 2> /dev/null || true
if pgrep -g "$uml" > /dev/null 2>&1; then
	say "processes of user-mode-linux outlived it: killing process group $uml"
	kill -KILL -- "-$uml" 2> /dev/null || true
fi
trap - EXIT
secs=$(($(date +%s) - start))
[[ -f "$results/console.log" ]] && grep -e '^systemd-stage:' -e '^\[cgroup-v2\]' "$results/console.log" >&2 || true
if [[ ! -f "$results/exit-code" ]]; then
	say "the machine ended without reporting a result after ${secs}s; its log:"
	tail -n 30 "$results/kernel.log" >&2
	exit 1
fi
rc=$(cat "$results/exit-code")
summary=$(cat "$results/reports/summary.txt" 2> /dev/null || echo "no summary")
case "$rc" in
	0) say "passed in ${secs}s: $summary" ;;
	2) say "FAILED: no test tagged systemd was found" ;;
	3) say "FAILED: the machine could not be set up (see $results/kernel.log)" ;;
	4) say "FAILED: the tests passed ($summary) but left systemd units behind" ;;
	*) say "FAILED (exit $rc) after ${secs}s: $summary; reports in $results/reports" ;;
esac
exit "$rc"
