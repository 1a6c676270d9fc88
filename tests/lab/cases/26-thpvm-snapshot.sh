# A Linux guest saved to disk and started again (issue 11, docs/snapshot-format.md):
# the booted guest's busybox shell is snapshotted through the control socket,
# the VMM quits, and the snapshot is restored twice from the same directory.
# Each restored guest's shell answers its console, its uptime goes on from
# the saved one (the guest's clock stood still on disk: never back to zero,
# never forward by the time on disk), and it ends with status 0.
name=thpvm-snap
sock=$L2_DIR/snap.sock
snap=$L2_DIR/snap.d
descs="shell answers before the snapshot|snapshot reply names the directory|the original ends with status 0 after quit|restore 1: shell answers|restore 1: uptime goes on from the saved one|restore 1: ends with status 0|restore 2: shell answers|restore 2: uptime goes on from the saved one|restore 2: ends with status 0"
skip_all() { case_skip_all "thpvm L2 snapshot" "$descs" "$1"; }
if ! reason=$(thpvm_can_boot_linux); then
	skip_all "$reason"
	return 0
fi
if ! thpvm run --help 2>&1 | grep -q -- --restore; then
	skip_all "thpvm has no --restore (snapshots on disk)"
	return 0
fi
ok_or_fail() { case_result "thpvm L2 snapshot" "$@"; } # ok_or_fail CONDITION_STATUS DESC DIAG...
uptime_of() { sed -n "s/^$2 up=\([0-9.]*\).*/\1/p" "$(l2_log "$1")" | head -n 1; }

rm -rf "$snap"
if ! l2_thpvm_shell $name "$sock"; then
	tap_fail "thpvm L2 snapshot: shell answers before the snapshot" "no init marker" "$(l2_tail $name)"
	skip_all "the guest did not boot"
	return 0
fi
l2_shell_run $name 'echo saved-$((6 * 7)) up=$(cut -d" " -f1 /proc/uptime)' '^saved-42 up='
ok_or_fail $? "shell answers before the snapshot" "$(l2_tail $name)"
up0=$(uptime_of $name saved-42)

reply=$(thpvm ctl "$sock" snapshot "path=$snap" 2>&1)
echo "$reply" | grep -q "\"path\": \"$snap\""
ok_or_fail $? "snapshot reply names the directory" "$(echo "$reply" | head -c 600)"
thpvm ctl "$sock" quit > /dev/null 2>&1
l2_wait $name
[ "$(l2_rc $name)" = 0 ]
ok_or_fail $? "the original ends with status 0 after quit" "thpvm exit '$(l2_rc $name)'" "$(l2_tail $name)"

for i in 1 2; do
	r=$name-r$i
	l2_console_in $r
	l2_run $r thpvm run --restore "$snap" &
	l2_shell_run $r "echo restored-$i-\$((6 * 7)) up=\$(cut -d' ' -f1 /proc/uptime)" "^restored-$i-42 up="
	ok_or_fail $? "restore $i: shell answers" "$(l2_tail $r)"
	up=$(uptime_of $r "restored-$i-42")
	# on from the saved uptime, by no more than the restored run has been running (+ slack for TCG)
	ran=$(_sub "$(now)" "$(cat "$L2_DIR/$r.t0")")
	awk -v a="$up0" -v b="$up" -v r="$ran" 'BEGIN { exit !(b != "" && a != "" && b >= a && b <= a + r + 5) }'
	ok_or_fail $? "restore $i: uptime goes on from the saved one" "saved ${up0:-?} s, restored ${up:-?} s after ${ran} s of restored run"
	echo "# restore $i: the guest's uptime was ${up0:-?} s when saved, ${up:-?} s after ${ran} s of the restored run (L1 time, emulated)"
	l2_send $r exit
	l2_wait $r
	[ "$(l2_guest_status $r)/$(l2_rc $r)" = "0/$(thpvm_exit_rc 0)" ]
	ok_or_fail $? "restore $i: ends with status 0" "guest status '$(l2_guest_status $r)', thpvm exit '$(l2_rc $r)'" "$(l2_tail $r)"
done
