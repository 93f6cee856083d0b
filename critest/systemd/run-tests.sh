#!/bin/sh
# Runs inside user-mode-linux as coracle-systemd-tests.service (systemd as PID 1, D-Bus up).
results=$CORACLE_SD_RESULTS
log=$results/console.log
say() { echo "systemd-stage: $*" | tee -a "$log"; }
: > "$log"
say "systemd $(systemctl --version | head -1 | cut -d' ' -f2) is $(systemctl is-system-running), bus $(busctl status --no-pager 2>&1 | grep -m1 -i 'owner\|unique' )"
systemctl show -p ControlGroup coracle-systemd-tests.service | tee -a "$log"
cat /proc/self/cgroup | tee -a "$log"
systemd-analyze blame --no-pager 2>&1 | head -15 | tee -a "$log"; systemctl list-jobs --no-pager | tee -a "$log"; systemd-analyze critical-chain --no-pager coracle-systemd-tests.service 2>&1 | tee -a "$log"
echo 0 > "$results/exit-code"
sync
systemctl -ff poweroff
