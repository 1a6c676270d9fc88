#!/bin/sh
# Runs one Criterion test binary with its TAP report on stdout for automake's
# tap-driver; Criterion's own summary and failure messages go to the log via
# stderr. One job at a time: the tests measure real memory and /dev/kvm.
test="$1"; shift
exec "$test" --tap=/dev/stdout --jobs=1 --short-filename "$@"
