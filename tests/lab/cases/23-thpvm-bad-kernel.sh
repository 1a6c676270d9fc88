# Bad kernel images, an initrd that does not fit and a command line that is
# too long are refused: a non-zero exit, one "thpvm: ..." line on stderr, no
# guest output, quickly, and no thpvm left running.
bad=/tmp/bad-kernels
mkdir -p $bad
: > $bad/empty
head -c 1048576 /dev/urandom > $bad/random
head -c 65536 "$GUEST/bzImage" > $bad/bzImage-truncated
head -c 1048576 "$GUEST/vmlinux" > $bad/vmlinux-truncated
cp /bin/busybox $bad/elf-without-pvh-note
truncate -s $(( (L2_MEMORY_MIB + 64) << 20 )) $bad/initrd-too-big
long=$(head -c 8192 /dev/zero | tr '\0' x)

refused() { # refused DESC ARGS...: thpvm run ARGS must refuse, one line
	desc=$1
	shift
	timeout -s KILL 20 thpvm run "$@" > $bad/out 2> $bad/err < /dev/null
	rc=$?
	lines=$(wc -l < $bad/err)
	if [ $rc -ne 0 ] && [ $rc -ne 137 ] && [ "$lines" -eq 1 ] && grep -q '^thpvm: ' $bad/err &&
	   ! grep -q THPVM-GUEST $bad/out && [ -z "$(pidof thpvm)" ]; then
		tap_ok "thpvm refuses $desc: $(cat $bad/err)"
	else
		tap_fail "thpvm refuses $desc" "exit $rc, $lines stderr line(s): $(head -c 300 $bad/err)" \
			"stdout: $(head -c 200 $bad/out)"
	fi
}

cases="empty random bzImage-truncated vmlinux-truncated elf-without-pvh-note"
if ! reason=$(thpvm_can_boot_linux); then
	for k in $cases; do tap_skip "thpvm refuses kernel image: $k" "$reason"; done
	tap_skip "thpvm refuses an initrd larger than guest memory" "$reason"
	tap_skip "thpvm refuses a command line of 8192 bytes" "$reason"
	return 0
fi
for k in $cases; do
	refused "kernel image: $k" --kernel $bad/$k --memory ${L2_MEMORY_MIB}M
done
refused "an initrd larger than guest memory" --kernel "$GUEST/vmlinux" --initrd $bad/initrd-too-big --memory ${L2_MEMORY_MIB}M
refused "a command line of 8192 bytes" --kernel "$GUEST/vmlinux" --cmdline "$long" --memory ${L2_MEMORY_MIB}M
rm -rf $bad
