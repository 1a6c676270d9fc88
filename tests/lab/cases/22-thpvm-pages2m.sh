# With nested paging, host THP alone gives 2 MiB mappings: L1's KVM maps a
# running thpvm guest with 2M pages (pages_2m > 0), and thpvm's own report
# (--stats-json, KVM's per-VM statistics) says the same for its VM.
desc="thpvm L2: L1 KVM pages_2m > 0 while the Linux guest runs"
desc2="thpvm L2: thpvm's own stats report KVM pages_2m > 0 for the Linux guest"
if ! reason=$(thpvm_can_boot_linux); then
	tap_skip "$desc" "$reason"
	tap_skip "$desc2" "$reason"
	return 0
fi
name=thpvm-pages2m
json=$L2_DIR/$name.json
L2_THPVM_ARGS="--stats-json $json"
l2_thpvm $name 1 "thpvm.run=sleep,3" &
unset L2_THPVM_ARGS
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
# the report is written when the guest ends, before the VM is destroyed
own=$(sed -n 's/.*"kvm_pages_2m": \([0-9]*\).*/\1/p' "$json" 2>/dev/null | head -n 1)
huge=$(sed -n 's/.*"huge_pct": \([0-9.]*\).*/\1/p' "$json" 2>/dev/null | head -n 1)
if [ "$(l2_rc $name)" = "$(thpvm_exit_rc 0)" ] && [ "${own:-0}" -gt 0 ]; then
	tap_ok "$desc2: $own x 2M (host THP: $huge% of guest RAM HUGE)"
else
	tap_fail "$desc2" "thpvm exit '$(l2_rc $name)', kvm_pages_2m '$own'" "$(head -c 400 "$json" 2>/dev/null)" "$(l2_tail $name)"
fi
