#!/usr/bin/env bash
# Builds uml-xstate.so (see uml-xstate.c) into the directory given, for the UML stages to preload:
#   critest/cgroup-v2/build-uml-xstate.sh DIR     (prints the library's path)
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
command -v gcc > /dev/null || { echo "gcc is not installed (Debian package gcc): cannot build uml-xstate.so" >&2; exit 1; }
gcc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o "$1/uml-xstate.so" "$here/uml-xstate.c" -ldl -lpthread
echo "$1/uml-xstate.so"
