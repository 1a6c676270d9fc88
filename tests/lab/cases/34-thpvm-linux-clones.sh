# 16 clones of a Linux guest from one snapshot (issue 12, docs/snapshot-format.md "Clones"): the booted
# guest's busybox shell is snapshotted and the VMM quits; `thpvm run --restore DIR --memory-mode shared
# --clones 16` starts 16 processes from the directory, each mapping the memory file MAP_PRIVATE: each
# clone's shell answers on its own console (typed through its own control socket, read back from its own
# console file), the clones' RAM is the snapshot's file (stats: summary.file) and, with --collapse density,
# they share its page cache (the clones' proportional set sizes add up to less than half their resident
# sizes), and each
# ends with status 0 when told to quit, the starter with them.
name=clones-base
sock=$L2_DIR/clones-base.sock
snap=$L2_DIR/clones.d
csock=$L2_DIR/clone.sock
n=16
descs="the base guest's shell answers|the snapshot is saved|$n clones serve their sockets|every clone's shell answers on its own console|the clones' RAM is the snapshot's file|the clones share the snapshot's page cache|every clone ends with status 0, the starter too"
case_can_run "thpvm L2 $n Linux clones" "$descs" --clones || return 0
ok_or_fail() { case_result "thpvm L2 $n Linux clones" "$@"; } # ok_or_fail STATUS DESC DIAG...

rm -rf "$snap"
if ! l2_thpvm_shell $name "$sock"; then
	tap_fail "thpvm L2 $n Linux clones: the base guest's shell answers" "no init marker" "$(l2_tail $name)"
	case_skip_all "thpvm L2 $n Linux clones" "${descs#*|}" "the guest did not boot"
	return 0
fi
l2_shell_run $name 'echo base-$((6 * 7))' '^base-42'
ok_or_fail $? "the base guest's shell answers" "$(l2_tail $name)"
reply=$(thpvm ctl "$sock" snapshot "path=$snap" 2>&1)
echo "$reply" | grep -q "\"path\": \"$snap\""
ok_or_fail $? "the snapshot is saved" "$(echo "$reply" | head -c 600)"
thpvm ctl "$sock" quit > /dev/null 2>&1
l2_wait $name

# density: the collapse thread keeps a clone's mostly-shared extents shared (balanced, the default, would
# give every extent split for 2 s a private THP: TLB reach bought with the sharing)
l2_run clones thpvm run --restore "$snap" --memory-mode shared --clones $n --collapse density --ctl-sock "$csock" &
ready=0
for _t in $(seq 1 60); do
	ready=0
	for i in $(seq 1 $n); do
		thpvm ctl --timeout 2 "$csock.$i" help > /dev/null 2>&1 && ready=$((ready + 1))
	done
	[ $ready = $n ] && break
	sleep 1
done
[ $ready = $n ]
ok_or_fail $? "$n clones serve their sockets" "$ready of $n after 60 s" "$(l2_tail clones)"

# each clone's shell, typed through its socket (a clone reads no stdin), read back from its console file
answered=0 missing=
for i in $(seq 1 $n); do
	for _try in 1 2 3 4 5 6 7 8 9 10; do
		grep -q "^clone-$i-42" "$csock.$i.console" 2>/dev/null && break
		thpvm ctl "$csock.$i" console "text=echo clone-$i-\$((6 * 7))" > /dev/null 2>&1
		sleep 1
	done
	if grep -q "^clone-$i-42" "$csock.$i.console" 2>/dev/null; then
		answered=$((answered + 1))
	else
		missing="$missing $i"
	fi
done
[ $answered = $n ]
ok_or_fail $? "every clone's shell answers on its own console" "$answered of $n; silent:$missing" \
	"$(tail -n 5 "$csock.${missing# }.console" 2>/dev/null | head -c 600)"

pid_of_clone() { # pid_of_clone I: the clone run with --ctl-sock $csock.I (L1 has no pgrep)
	for _p in /proc/[0-9]*; do
		case "$({ tr '\0' ' ' < "$_p/cmdline"; } 2>/dev/null)" in
			*" --ctl-sock $csock.$1 "*) echo "${_p#/proc/}"; return 0 ;;
		esac
	done
	return 1
}
files=0 rss=0 pss=0 pids=
for i in $(seq 1 $n); do
	thpvm ctl --raw "$csock.$i" stats 2>/dev/null | tr -d ' ' | grep -q '"file":{' && files=$((files + 1))
	pid=$(pid_of_clone $i)
	[ -n "$pid" ] || continue
	pids="$pids $pid"
	r=$(sed -n 's/^Rss: *\([0-9]*\) kB/\1/p' "/proc/$pid/smaps_rollup")
	p=$(sed -n 's/^Pss: *\([0-9]*\) kB/\1/p' "/proc/$pid/smaps_rollup")
	rss=$((rss + ${r:-0})) pss=$((pss + ${p:-0}))
done
[ $files = $n ]
ok_or_fail $? "the clones' RAM is the snapshot's file" "$files of $n show summary.file"
echo "# $n clones: resident $((rss / 1024)) MiB in all, proportional $((pss / 1024)) MiB (L1 6.12, emulated)"
[ "$(echo $pids | wc -w)" = $n ] && [ $rss -gt 0 ] && [ $((pss * 2)) -lt $rss ]
ok_or_fail $? "the clones share the snapshot's page cache" "pids:$pids; Rss $rss kB, Pss $pss kB in all"

for i in $(seq 1 $n); do
	thpvm ctl "$csock.$i" quit > /dev/null 2>&1
done
l2_wait clones
# the starter exits with the first status that was not 0 once all have ended
[ "$(l2_rc clones)" = 0 ]
ok_or_fail $? "every clone ends with status 0, the starter too" "starter exit '$(l2_rc clones)'" "$(l2_tail clones)"
rm -rf "$snap" "$csock".*
