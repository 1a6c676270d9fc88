#!/bin/busybox sh
# Runs the lab's cases inside L1 and prints TAP: runner.sh [GLOB]
# Each /lab/cases/NN-name.sh is sourced in a subshell with lib.sh loaded and
# prints its own ok / not ok / SKIP lines; the plan comes last.
. /lab/lib.sh
glob=${1:-*}
for c in /lab/cases/$glob.sh; do
	[ -f "$c" ] || continue
	diag "case $(basename "$c" .sh) at L1 uptime $(now)"
	( . "$c" )
done
tap_summary
