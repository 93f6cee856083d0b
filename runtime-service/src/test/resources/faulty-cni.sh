#!/bin/sh
# A CNI plugin for tests: the bridge plugin, with a fault read from the file the config's "faultFile" names.
# Faults (any of, per command): hang-ADD hang-DEL (never answers), fail-ADD fail-DEL (a CNI error, nothing done),
# crash-ADD crash-DEL (the real plugin does its work, then this one dies by SIGKILL without answering).
conf=$(cat)
file=$(printf '%s' "$conf" | sed -n 's/.*"faultFile" *: *"\([^"]*\)".*/\1/p')
fault=""
if [ -n "$file" ] && [ -f "$file" ]; then
    fault=$(cat "$file")
fi
case "$fault" in
    *"hang-$CNI_COMMAND"*) exec sleep 3599 ;;
    *"fail-$CNI_COMMAND"*)
        printf '{"cniVersion":"1.0.0","code":11,"msg":"injected %s failure"}' "$CNI_COMMAND"
        exit 1 ;;
esac
for dir in /usr/lib/cni /opt/cni/bin; do
    if [ -x "$dir/bridge" ]; then
        real="$dir/bridge"
        break
    fi
done
out=$(printf '%s' "$conf" | "$real")
rc=$?
case "$fault" in
    *"crash-$CNI_COMMAND"*) kill -9 $$ ;;
esac
printf '%s' "$out"
exit $rc
