# Disks that fork (issue 13, docs/linux-boot.md "virtio devices"): a 6.12 Linux guest running on its root
# disk (the recipe's rootfs.img, root=/dev/vda), with entropy (--rng) and a network device on a tap
# (--net: it pings L1), with a writer in the background, is forked into two children.
# Each child and the parent write their own /root/mine: each reads back only its own, all see what was
# written before the fork, every file system checks clean (e2fsck -fn in the guest, / remounted
# read-only), and the image on L1 is not written once the fork has frozen it under the VMs' layers.
name=dfork
sock=$L2_DIR/dfork.sock
disk=$L2_DIR/dfork.img
descs="the parent boots from its root disk|it reads /dev/hwrng and pings L1 over its tap|fork count=2 with a writable disk|each VM reads back only its own file|every VM sees what was written before the fork|every file system checks clean|the image is not written after the fork"
ok_or_fail() { case_result "thpvm L2 disk fork" "$@"; } # ok_or_fail STATUS DESC DIAG...
# bookworm-backports' 6.12 where the lab has it, else the default guest
G=/guests/linux-backports
[ -e "$G/rootfs.img" ] || G=$GUEST
if [ ! -e "$G/rootfs.img" ]; then
	case_skip_all "thpvm L2 disk fork" "$descs" "the guest has no rootfs.img"
	return 0
fi
case_can_run "thpvm L2 disk fork" "$descs" || return 0
con() { echo "$sock.$1.console"; }
child_run() { # child_run N COMMAND REGEX: type COMMAND on child N's console until its console matches (60 s)
	_i=0
	while [ $_i -lt 30 ]; do
		grep -qE "$3" "$(con "$1")" 2>/dev/null && return 0
		thpvm ctl "$sock.$1" console "text=$2" > /dev/null 2>&1
		sleep 2
		_i=$((_i + 1))
	done
	grep -qE "$3" "$(con "$1")" 2>/dev/null
}
said() { # said LOGFILE TAG [LINE]: TAG's value on the first output line starting with LINE= (default TAG=)
	# (not the echo of the command typed, wrapped by the console: its values start with $)
	tr -d '\r' < "$1" 2>/dev/null | grep "^${3:-$2}=[^\$]" | head -n 1 | sed -n "s/.*\b$2=\([^ ]*\).*/\1/p"
}

cp "$G/rootfs.img" "$disk"
rm -f "$sock" "$sock".1* "$sock".2*
l2_console_in $name
L2_THPVM_ARGS="--disk $disk --rng --net tap=thpvm1 --ctl-sock $sock"
l2_thpvm $name 1 "root=/dev/vda thpvm.shell=1" "$G/vmlinux" "$G/initramfs.cpio" &
unset L2_THPVM_ARGS
if ! l2_wait_marker $name; then
	ok_or_fail 1 "the parent boots from its root disk" "no init marker" "$(l2_tail $name 20)"
	case_skip_all "thpvm L2 disk fork" "${descs#*|}" "the guest did not boot"
	l2_wait $name
	return 0
fi
l2_shell_run $name 'echo before > /root/before; (while :; do date >> /root/ticks; sync; sleep 1; done) & echo $! > /tmp/writer; sync; echo rootdev=$(awk '"'"'$2 == "/" { print $1 }'"'"' /proc/mounts)' '^rootdev='
[ "$(said "$(l2_log $name)" rootdev)" = /dev/vda ]
ok_or_fail $? "the parent boots from its root disk" "$(l2_tail $name)"

ip addr add 10.0.3.1/24 dev thpvm1 2> /dev/null
ip link set thpvm1 up 2> /dev/null
l2_shell_run $name 'ip link set eth0 up; ip addr add 10.0.3.2/24 dev eth0 2>/dev/null; for i in 1 2 3 4 5; do ping -c 1 -W 2 10.0.3.1 > /dev/null && break; done; echo net=$? rng=$(head -c 16 /dev/hwrng | wc -c)' '^net='
[ "$(said "$(l2_log $name)" net)/$(said "$(l2_log $name)" rng net)" = 0/16 ]
ok_or_fail $? "it reads /dev/hwrng and pings L1 over its tap" "$(grep -m1 '^net=' "$(l2_log $name)")" "$(l2_tail $name)"

reply=$(thpvm ctl "$sock" fork count=2 2>&1)
sum_at_fork=$(md5sum < "$disk")
echo "$reply" | grep -q "\"socket\": \"$sock.2\""
ok_or_fail $? "fork count=2 with a writable disk" "$(echo "$reply" | head -c 600)"

l2_shell_run $name 'echo parent > /root/mine; sync; echo mine=$(cat /root/mine) before=$(cat /root/before)' '^mine='
for n in 1 2; do
	child_run $n "echo child-$n > /root/mine; sync; echo mine=\$(cat /root/mine) before=\$(cat /root/before)" '^mine='
done
sleep 2 # the background writers go on in all three
got="$(said "$(l2_log $name)" mine)/$(said "$(con 1)" mine)/$(said "$(con 2)" mine)"
[ "$got" = parent/child-1/child-2 ]
ok_or_fail $? "each VM reads back only its own file" "parent/child 1/child 2 read '$got'"
got="$(said "$(l2_log $name)" before mine)/$(said "$(con 1)" before mine)/$(said "$(con 2)" before mine)"
[ "$got" = before/before/before ]
ok_or_fail $? "every VM sees what was written before the fork" "read '$got'"

check='kill $(cat /tmp/writer); sleep 2; sync; mount -o remount,ro /; e2fsck -fn /dev/vda > /tmp/fsck.log 2>&1; echo fsck=$?'
l2_shell_run $name "$check" '^fsck='
for n in 1 2; do child_run $n "$check" '^fsck='; done
got="$(said "$(l2_log $name)" fsck)/$(said "$(con 1)" fsck)/$(said "$(con 2)" fsck)"
[ "$got" = 0/0/0 ]
ok_or_fail $? "every file system checks clean" "e2fsck statuses '$got'" "$(l2_tail $name)"

for n in 1 2; do child_run $n exit 'THPVM-GUEST-EXIT'; done
l2_send $name exit
l2_wait $name
[ "$(md5sum < "$disk")" = "$sum_at_fork" ]
ok_or_fail $? "the image is not written after the fork" "md5 at the fork $sum_at_fork, at the end $(md5sum < "$disk")"
rm -f "$disk"
