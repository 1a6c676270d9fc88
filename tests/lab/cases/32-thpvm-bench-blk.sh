# thpvm bench blk (issue 13 item 8, docs/benchmarks.md) once, small, in L1: blkbench on a 16 MiB
# image in L1 itself, in the first L2 guest under thpvm (--disk) and under QEMU (microvm,acpi=on,
# virtio-blk-device). The table's shape only: the host line, and a row for each of host, thpvm
# and qemu with all four figures (random read/write IOPS, sequential read/write MiB/s) and their
# ratios to the host's > 0; the JSON has all three, none skipped. Never a timing compared (the
# lab's are emulated). Here and not in the KVM suite: L2 Linux boots stall under the suite's
# thread=single TCG (docs/lab.md), the cases run on thread=multi.
desc="thpvm bench blk: host, thpvm and qemu rows, every figure and ratio > 0"
out=/tmp/bench-blk-case.out
json=/tmp/bench-blk-case.json
if ! reason=$(thpvm_can_boot_linux); then
	tap_skip "$desc" "$reason"
	return 0
fi
if ! thpvm bench blk --help > /dev/null 2>&1 || [ ! -x /lab/linux-user/blkbench ]; then
	tap_skip "$desc" "thpvm has no bench blk, or no blkbench in /lab/linux-user"
	return 0
fi
timeout -s KILL 900 thpvm bench blk --guest-dir "$GUEST" --blkbench /lab/linux-user/blkbench --dir /tmp \
	--size 16M --secs 1 --reps 1 --warmup 0 --json "$json" < /dev/null > "$out" 2>&1
rc=$?
bad=''
[ "$rc" = 0 ] || bad="status $rc"
head -n 1 "$out" | grep -q '^bench blk: host: ' || bad="$bad; no host line"
for cfg in host thpvm qemu; do
	# config, then 4 x (figure, ratio with its x), then direct
	awk -v c="$cfg" '$1 == c { found = 1
		if (NF != 10) exit 1
		for (i = 2; i <= 9; i++) { v = $i; sub(/x$/, "", v); if (!(v + 0 > 0)) exit 1 }
	} END { exit !found }' "$out" || bad="$bad; $cfg row missing or not all > 0"
	grep -q "\"config\": \"$cfg\"" "$json" 2>/dev/null || bad="$bad; $cfg not in the JSON"
done
! grep -q '"skipped"' "$json" 2>/dev/null || bad="$bad; a configuration was skipped"
if [ -z "$bad" ]; then
	tap_ok "$desc"
	diag "$(sed -n '1,6p' "$out")"
else
	tap_fail "$desc" "${bad#; }" "$(tail -n 12 "$out")"
fi
rm -f "$out" "$json"
