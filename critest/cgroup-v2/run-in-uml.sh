#!/usr/bin/env bash
# The cgroup-v2 stage: boots Debian's user-mode-linux (a 6.1 kernel run as an ordinary process, no
# KVM) with this host's root as its root (hostfs), on a pure cgroup v2 hierarchy, and runs every
# test tagged @Tag("cgroup") inside it (uml-init.sh, TaggedTestRunner). Needs a build with test
# classes (mvn verify or package: each module's target/test-classpath.txt).
#
#   critest/cgroup-v2/run-in-uml.sh         (or ./coracle test-cgroup-v2, which builds first)
#
# Results land in critest/target/cgroup-v2/ (console.log, reports/TEST-*.xml, summary.txt,
# exit-code); the console log is printed too. Exit status: the tests' (0 all passed), or 1 when the
# kernel did not report (crash, timeout). Environment: CORACLE_V2_TIMEOUT (seconds for the tests,
# default 600), CORACLE_V2_MEM (default 1536M).
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
results=$repo/critest/target/cgroup-v2
timeout=${CORACLE_V2_TIMEOUT:-600}
mem=${CORACLE_V2_MEM:-1536M}
say() { printf 'cgroup-v2: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

linux=$(command -v linux || true)
[[ -n "$linux" && -d /usr/lib/uml/modules ]] || die "user-mode-linux is not installed (Debian package user-mode-linux): cannot run the cgroup v2 tests"
command -v modprobe > /dev/null || die "kmod is not installed (Debian package kmod): the UML kernel cannot load overlay, veth and bridge"
[[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]] || die "JAVA_HOME must name a JDK 21+"
modules=(native pod-sandbox runtime-service critest)
for m in "${modules[@]}"; do
	[[ -f "$repo/$m/target/test-classpath.txt" ]] || die "$m/target/test-classpath.txt is missing: build first (mvn -DskipTests package)"
done

rm -rf "$results"
mkdir -p "$results/reports"
# One JVM for all: the test classes of the modules with cgroup tests, every module's classes from
# this tree, and the libraries of their test classpaths (never a Coracle jar from ~/.m2).
{
	for m in native pod-sandbox runtime-service; do echo "$repo/$m/target/test-classes"; done
	for m in cri-api native image-service pod-sandbox runtime-service critest/fixtures critest; do
		echo "$repo/$m/target/classes"
	done
	for m in "${modules[@]}"; do
		tr ':' '\n' < "$repo/$m/target/test-classpath.txt" | grep -v -e '/io/coracle/' -e "^$repo/"
	done
} | awk 'NF && !seen[$0]++' | paste -sd: > "$results/classpath.txt"

# This UML keeps its processes' FP state in an 832-byte XSAVE buffer; on a host with a larger one
# (AVX-512, AMX) the host refuses to restore it and init dies at boot. uml-xstate.c, preloaded, keeps
# the rest of each area beside UML's buffer (a pass-through where UML's buffer is big enough).
xstate=$("$repo/critest/cgroup-v2/build-uml-xstate.sh" "$results") || die "cannot build uml-xstate.so"

# UML backs its memory with an unlinked file in TMPDIR: tmpfs, not the disk under /tmp.
export TMPDIR=/dev/shm
start=$(date +%s)
say "booting user-mode-linux ($("$linux" --version 2>/dev/null || echo '?'), mem=$mem); tests time out after ${timeout}s"
# Its own session and process group: UML runs each of its processes as a host process, and a hung
# kernel is ended as a whole group, by its id.
LD_PRELOAD="$xstate" setsid "$linux" mem="$mem" rootfstype=hostfs rootflags=/ rw quiet con=null con0=null,fd:2 \
	init="$repo/critest/cgroup-v2/uml-init.sh" \
	CORACLE_V2_RESULTS="$results" CORACLE_V2_REPO="$repo" CORACLE_V2_JAVA="$JAVA_HOME" \
	CORACLE_V2_TIMEOUT="$timeout" < /dev/null > "$results/kernel.log" 2>&1 &
uml=$!
# Interrupted (Ctrl-C, a CI timeout): the kernel and its processes go too.
trap 'kill -KILL -- "-$uml" 2> /dev/null || true' EXIT
trap 'exit 130' INT TERM
# Follow the tests' outcomes while they run (their full output stays in console.log).
tail --pid="$uml" -n +1 -F "$results/console.log" 2> /dev/null | grep --line-buffered -e '^\[cgroup-v2\]' -e '^cgroup-v2:' &
tailer=$!
deadline=$((start + timeout + 120))
while kill -0 "$uml" 2> /dev/null; do
	if (($(date +%s) > deadline)); then
		say "user-mode-linux still running $((deadline - start))s after boot: killing it (process group $uml)"
		kill -KILL -- "-$uml" 2> /dev/null || true
		break
	fi
	sleep 2
done
wait "$uml" 2> /dev/null || true
wait "$tailer" 2> /dev/null || true # tail ends with the kernel's process
# Nothing of the kernel may outlive it (its process group: the kernel and its userspace processes).
if pgrep -g "$uml" > /dev/null 2>&1; then
	say "processes of user-mode-linux outlived it: killing process group $uml"
	kill -KILL -- "-$uml" 2> /dev/null || true
fi

trap - EXIT
secs=$(($(date +%s) - start))
if [[ ! -f "$results/exit-code" ]]; then
	say "the UML kernel ended without reporting a result after ${secs}s; its log:"
	tail -n 30 "$results/kernel.log" >&2
	# The emulated kernel itself panicking (seen once: a kernel-mode fault at 0x0 under an OOM kill) is
	# not a test's result: the whole stage runs once more, and says so. A second panic fails it.
	if grep -q '^Kernel panic' "$results/kernel.log" && [[ -z "${CORACLE_V2_RETRIED:-}" ]]; then
		say "the UML kernel panicked: booting it once more (every test runs again)"
		CORACLE_V2_RETRIED=1 exec "$0" "$@"
	fi
	exit 1
fi
rc=$(cat "$results/exit-code")
summary=$(cat "$results/reports/summary.txt" 2> /dev/null || echo "no summary")
case "$rc" in
	0) say "passed in ${secs}s: $summary" ;;
	2) say "FAILED: no test tagged cgroup was found" ;;
	3) say "FAILED: the UML machine could not be set up (see $results/console.log)" ;;
	4) say "FAILED: the tests passed ($summary) but left cgroups or mounts behind" ;;
	*) say "FAILED (exit $rc) after ${secs}s: $summary; reports in $results/reports" ;;
esac
exit "$rc"
