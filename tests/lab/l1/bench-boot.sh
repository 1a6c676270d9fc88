#!/bin/busybox sh
# L2 boot time in the lab: bench-boot.sh REPS
# Boots the L2 guest (vmlinux, 256 MiB, the recipe's initramfs, no program)
# REPS times per configuration, configurations interleaved in every
# repetition: QEMU with 1 and 2 vCPUs, and thpvm too once it boots Linux.
# Columns (seconds, medians with min/max): "marker" = L1 uptime from starting
# the L2 VMM to the guest's THPVM-GUEST-INIT-OK line; "guest" = the L2
# kernel's own uptime in that line (kernel boot without VMM start-up and
# kernel loading); "start" = marker minus guest, per run: the VMM's start-up
# and kernel loading before the guest kernel's clock starts; "exit" = from
# start to the VMM's exit.
. /lab/lib.sh
reps=${1:-5}
vmms=qemu
thpvm_can_boot_linux > /dev/null && vmms="qemu thpvm"
configs=
for v in $vmms; do configs="$configs $v:1 $v:2"; done

failed=0
i=1
while [ $i -le "$reps" ]; do
	for c in $configs; do
		vmm=${c%:*} cpus=${c#*:}
		name=bench-$vmm-$cpus-$i
		"l2_$vmm" "$name" "$cpus"
		m=$(l2_marker_secs "$name")
		if [ -z "$m" ] || [ "$(l2_guest_status "$name")" != 0 ]; then
			echo "# run $i: $vmm $cpus vCPU(s) failed"
			diag "$(l2_tail "$name")"
			failed=1
			continue
		fi
		g=$(l2_guest_uptime "$name") e=$(l2_exit_secs "$name")
		echo "$m" >> "$L2_DIR/marker-$vmm-$cpus"
		echo "$g" >> "$L2_DIR/guest-$vmm-$cpus"
		_sub "$m" "$g" >> "$L2_DIR/start-$vmm-$cpus"
		echo "$e" >> "$L2_DIR/exit-$vmm-$cpus"
		echo "# run $i: $vmm $cpus vCPU(s): marker $m s (guest uptime $g s), exit $e s"
	done
	i=$((i + 1))
done

stats() { # median (min-max) of the numbers in a file
	sort -n "$1" 2>/dev/null | awk '{ v[NR] = $1 } END {
		if (NR == 0) { printf "%18s", "-"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%6.2f (%4.1f-%4.1f)", m, v[1], v[NR] }'
}
echo "bench boot: L2 Linux $(cat "$GUEST/kernel-release") vmlinux + initramfs, $L2_MEMORY_MIB MiB, in L1 (QEMU TCG, nested SVM+NPT), $reps runs each, seconds: median (min-max)"
printf '%-6s %4s  %-18s  %-18s  %-18s  %-18s\n' vmm cpus marker guest start exit
for c in $configs; do
	vmm=${c%:*} cpus=${c#*:}
	printf '%-6s %4s  %s  %s  %s  %s\n' "$vmm" "$cpus" "$(stats "$L2_DIR/marker-$vmm-$cpus")" \
		"$(stats "$L2_DIR/guest-$vmm-$cpus")" "$(stats "$L2_DIR/start-$vmm-$cpus")" \
		"$(stats "$L2_DIR/exit-$vmm-$cpus")"
done
exit $failed
