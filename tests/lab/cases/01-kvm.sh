# L1 has a real /dev/kvm with nested paging: the modules from the guest
# recipe load (irqbypass kvm ccp kvm-amd), SVM's NPT and the TDP MMU are on.
if [ -c /dev/kvm ]; then
	tap_ok "L1 /dev/kvm present after insmod $(tr '\n' ' ' < /lib/modules/load-order)"
else
	tap_fail "L1 /dev/kvm present after insmod" "$(cat /tmp/insmod.log)" "$(dmesg | grep -i -E 'kvm|svm' | tail -n 5)"
fi
tap_is "$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)" Y "kvm_amd npt=Y (nested paging for L2)"
tap_is "$(cat /sys/module/kvm/parameters/tdp_mmu 2>/dev/null)" Y "kvm tdp_mmu=Y"
if [ -r /sys/kernel/debug/kvm/pages_2m ]; then
	tap_ok "L1 debugfs has KVM's pages_2m/pages_4k counters"
else
	tap_fail "L1 debugfs has KVM's pages_2m/pages_4k counters" "$(ls /sys/kernel/debug/kvm 2>&1 | head -n 3)"
fi
diag "L1 THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
