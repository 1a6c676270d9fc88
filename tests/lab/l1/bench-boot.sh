#!/bin/busybox sh
# L2 boot time in the lab: bench-boot.sh REPS
# Boots the L2 guest (vmlinux, 256 MiB, the recipe's initramfs, no program)
# REPS times per configuration, configurations interleaved in every
# repetition: QEMU with 1 and 2 vCPUs, and thpvm too once it boots Linux.
# Times are L1 uptime seconds from starting the L2 VMM to the guest's
# THPVM-GUEST-INIT-OK line ("marker") and to the VMM's exit ("exit").
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
			echo "bench boot: $vmm $cpus vCPU(s) run $i failed"
			l2_tail "$name"
			failed=1
			continue
		fi
		echo "$m" >> "$L2_DIR/marker-$vmm-$cpus"
		l2_exit_secs "$name" >> "$L2_DIR/exit-$vmm-$cpus"
		echo "# run $i: $vmm $cpus vCPU(s): marker $m s, exit $(l2_exit_secs "$name") s"
	done
	i=$((i + 1))
done

stats() { sort -n "$1" | awk '{ v[NR] = $1 } END {
	if (NR == 0) { printf "%8s %8s %8s", "-", "-", "-"; exit }
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%8.2f %8.2f %8.2f", m, v[1], v[NR] }'; }
echo "bench boot: L2 Linux $(cat "$GUEST/kernel-release") vmlinux, $L2_MEMORY_MIB MiB, in L1 (QEMU TCG, nested SVM+NPT), $reps runs each"
printf '%-6s %4s  %8s %8s %8s  %8s %8s %8s\n' vmm cpus marker_s min max exit_s min max
for c in $configs; do
	vmm=${c%:*} cpus=${c#*:}
	printf '%-6s %4s  %s  %s\n' "$vmm" "$cpus" "$(stats "$L2_DIR/marker-$vmm-$cpus" 2>/dev/null)" \
		"$(stats "$L2_DIR/exit-$vmm-$cpus" 2>/dev/null)"
done
exit $failed
