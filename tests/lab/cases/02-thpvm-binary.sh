# The thpvm program copied into L1 (with its shared libraries) runs there.
if [ ! -e /usr/bin/thpvm ]; then
	tap_skip "thpvm runs in L1" "no thpvm binary in L1 (tests/lab/run.sh --thpvm PATH)"
	return 0
fi
if v=$(thpvm --version 2>&1); then
	tap_ok "thpvm runs in L1: $v"
else
	tap_fail "thpvm runs in L1" "$v"
fi
