# With nested paging, host THP alone gives 2 MiB mappings: L1's KVM maps a
# running thpvm guest with 2M pages (pages_2m > 0).
desc="thpvm L2: L1 KVM pages_2m > 0 while the Linux guest runs"
if ! reason=$(thpvm_can_boot_linux); then
	tap_skip "$desc" "$reason"
	return 0
fi
name=thpvm-pages2m
l2_thpvm $name 1 "thpvm.run=sleep,3" &
if l2_wait_marker $name; then
	p2m=$(kvm_stat pages_2m) p4k=$(kvm_stat pages_4k)
	if [ "${p2m:-0}" -gt 0 ]; then
		tap_ok "$desc: $p2m x 2M, $p4k x 4K ($L2_MEMORY_MIB MiB guest)"
	else
		tap_fail "$desc" "pages_2m='$p2m' pages_4k='$p4k'; L1 THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
	fi
else
	tap_fail "$desc" "the guest never reached its init marker" "$(l2_tail $name)"
fi
l2_wait $name
