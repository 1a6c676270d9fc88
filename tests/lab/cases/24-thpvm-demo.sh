# thpvm demo --linux where the host boots Linux (here L1's kvm-amd): it says
# so, boots the recipe's guest on 2 vCPUs, runs memtest inside and reports
# how KVM mapped the guest's RAM.
desc="thpvm demo --linux boots the guest and memtest passes inside"
if ! reason=$(thpvm_can_boot_linux); then
	tap_skip "$desc" "$reason"
	return 0
fi
if ! grep -qx memtest "$GUEST/programs"; then
	tap_skip "$desc" "no memtest in the L2 initramfs (LINUX_GUEST_BINS, docs/lab.md)"
	return 0
fi
out=$L2_DIR/demo.log
t0=$(now)
timeout -s KILL "$L2_TIMEOUT" thpvm demo --linux --guest-dir "$GUEST" --memory 256M < /dev/null > "$out" 2>&1
rc=$?
secs=$(_sub "$(now)" "$t0")
if [ $rc = 0 ] && grep -q '^KVM on this host: kvm_amd (SVM, NPT)' "$out" &&
   grep -q 'THPVM-GUEST-RUN status=0: memtest' "$out" && grep -q 'pages_2m' "$out" &&
   grep -q '^memtest inside the Linux guest: passed' "$out"; then
	tap_ok "$desc (in $secs s)"
	diag "$(sed -n '/^How the guest/,/^  HUGE/p' "$out")"
else
	tap_fail "$desc" "exit $rc after $secs s" "$(tail -n 12 "$out" | sed 's/^/  /')"
fi
