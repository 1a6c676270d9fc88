#!/bin/bash
# Builds thpvm out of tree: scripts/build.sh [BUILD_DIR] [configure options...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
case "$dir" in /*) ;; *) dir="$top/$dir" ;; esac

cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$*" != "$(cat .configure-args 2>/dev/null)" ]; then
	"$top/configure" -q "$@"
	echo "$*" > .configure-args
fi
make -j"$(nproc)" >/dev/null
echo "build: $dir ($*)"
