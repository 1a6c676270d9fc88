#!/bin/bash
# Fresh Debian 12 -> dependencies, build, and the main job: thpvm demo.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" build
exec "$top/build/vmm/thpvm" demo "$@"
