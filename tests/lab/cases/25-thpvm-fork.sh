# A Linux guest forked after boot (issue 5, docs/fork.md): the booted guest's
# busybox shell is forked through the control socket; parent and child both
# keep running their shells, each answers its own console input with its own
# marker (the parent's input: its stdin; the child's: `thpvm ctl SOCK.1
# console`, its output in SOCK.1.console), and both end with status 0.
name=thpvm-fork
sock=$L2_DIR/fork.sock
child=$sock.1
descs="parent shell answers before the fork|fork reply names the child's socket and console|child shell answers its own console input|parent shell still answers after the fork|each marker only on its own console|child ends with status 0, reaped by the parent|parent ends with status 0"
skip_all() { case_skip_all "thpvm L2 fork" "$descs" "$1"; }
if ! reason=$(thpvm_can_boot_linux); then
	skip_all "$reason"
	return 0
fi
if ! thpvm run --help 2>&1 | grep -q -- --ctl-sock; then
	skip_all "thpvm has no --ctl-sock (snapshot-fork)"
	return 0
fi
ok_or_fail() { case_result "thpvm L2 fork" "$@"; } # ok_or_fail CONDITION_STATUS DESC DIAG...
child_says() { grep -qE "$1" "$child.console" 2>/dev/null; }
child_run() { # child_run COMMAND REGEX: type COMMAND on the child's console until its console matches
	_i=0
	while [ $_i -lt 15 ]; do
		child_says "$2" && return 0
		thpvm ctl "$child" console "text=$1" > /dev/null 2>&1
		sleep 2
		_i=$((_i + 1))
	done
	child_says "$2"
}

rm -f "$child" "$child.console"
if ! l2_thpvm_shell $name "$sock"; then
	tap_fail "thpvm L2 fork: parent shell answers before the fork" "no init marker" "$(l2_tail $name)"
	skip_all "the guest did not boot"
	return 0
fi
l2_shell_run $name 'echo parent-before-$((6 * 7))' '^parent-before-42$'
ok_or_fail $? "parent shell answers before the fork" "$(l2_tail $name)"

reply=$(thpvm ctl "$sock" fork count=1 2>&1)
echo "$reply" | grep -q "\"socket\": \"$child\"" && echo "$reply" | grep -q "\"console\": \"$child.console\""
ok_or_fail $? "fork reply names the child's socket and console" "$(echo "$reply" | head -c 600)"

child_run 'echo child-$((6 * 7))' '^child-42'
ok_or_fail $? "child shell answers its own console input" "$(tail -n 8 "$child.console" 2>/dev/null | sed 's/^/  /')"

l2_shell_run $name 'echo parent-after-$((7 * 7))' '^parent-after-49$'
ok_or_fail $? "parent shell still answers after the fork" "$(l2_tail $name)"

! grep -q '^child-42' "$(l2_log $name)" && ! child_says '^parent-after-49'
ok_or_fail $? "each marker only on its own console" "parent: $(grep -c child-42 "$(l2_log $name)") child line(s)" \
	"child: $(grep -c parent-after-49 "$child.console" 2>/dev/null) parent line(s)"

child_run 'exit' 'THPVM-GUEST-EXIT status=0'
st=1
for _i in 1 2 3 4 5 6 7 8 9 10; do
	kids=$(thpvm ctl --raw "$sock" stats 2>/dev/null | grep -o '"children":\[[^]]*\]')
	if echo "$kids" | grep -q '"state":"exited"' && echo "$kids" | grep -q '"exit_status":0'; then st=0; break; fi
	sleep 1
done
ok_or_fail $st "child ends with status 0, reaped by the parent" "$(tail -n 4 "$child.console" 2>/dev/null | sed 's/^/  /')" \
	"$(echo "$kids" | head -c 400)"

l2_send $name exit
l2_wait $name
[ "$(l2_guest_status $name)/$(l2_rc $name)" = "0/$(thpvm_exit_rc 0)" ]
ok_or_fail $? "parent ends with status 0" "guest status '$(l2_guest_status $name)', thpvm exit '$(l2_rc $name)'" "$(l2_tail $name)"
