# virtio-net over a tap (issue 13, docs/linux-boot.md "virtio devices"): thpvm creates tap thpvm0 in L1
# for an L2 guest (--net tap=thpvm0,mac=...), L1 gives the tap 10.0.2.1/24, the guest gives its eth0
# 10.0.2.2/24 with the MAC it was given; the guest pings L1 and L1 pings the guest, over the tap both
# ways; a forked child lets go of the tap (its link goes down) while the parent still pings L1.
name=net
sock=$L2_DIR/net.sock
mac=52:54:00:12:34:56
descs="thpvm creates the tap in L1|the guest has eth0 with the MAC given|the guest pings L1 over the tap|L1 pings the guest over the tap|a forked child's link is down|the parent still pings L1 after the fork"
ok_or_fail() { case_result "thpvm L2 virtio-net" "$@"; } # ok_or_fail STATUS DESC DIAG...
case_can_run "thpvm L2 virtio-net" "$descs" --net || return 0
if [ ! -c /dev/net/tun ]; then
	case_skip_all "thpvm L2 virtio-net" "$descs" "L1 has no /dev/net/tun (the tun module: $(grep tun /tmp/insmod.log | head -c 200))"
	return 0
fi

l2_console_in $name
L2_THPVM_ARGS="--net tap=thpvm0,mac=$mac --ctl-sock $sock"
l2_thpvm $name 1 "thpvm.shell=1" &
unset L2_THPVM_ARGS
if ! l2_wait_marker $name; then
	case_skip_all "thpvm L2 virtio-net" "$descs" "the guest did not boot: $(l2_tail $name 20 | tr '\n' ' ')"
	l2_wait $name
	return 0
fi
# the tap is thpvm's once the guest runs (the check before it opened and closed it once)
ip link show thpvm0 > /dev/null 2>&1 && ip addr add 10.0.2.1/24 dev thpvm0 && ip link set thpvm0 up
ok_or_fail $? "thpvm creates the tap in L1" "$(ip link show thpvm0 2>&1)" "$(l2_tail $name 10)"

l2_shell_run $name 'ip link set eth0 up; ip addr add 10.0.2.2/24 dev eth0 2>/dev/null; echo eth0=$(cat /sys/class/net/eth0/address)' '^eth0='
grep -q "^eth0=$mac" "$(l2_log $name)"
ok_or_fail $? "the guest has eth0 with the MAC given" "$(grep -m1 '^eth0=' "$(l2_log $name)")" "$(l2_tail $name 20)"

l2_shell_run $name 'for i in 1 2 3 4 5; do ping -c 1 -W 2 10.0.2.1 > /dev/null && break; done; echo pinged=$?' '^pinged='
grep -q '^pinged=0' "$(l2_log $name)"
ok_or_fail $? "the guest pings L1 over the tap" "$(grep -m1 '^pinged=' "$(l2_log $name)")" "$(ip -s link show thpvm0 2>&1)" "$(l2_tail $name 20)"

# busybox ping: status 0 when a reply came
out=$(ping -c 3 -W 3 10.0.2.2 2>&1)
ok_or_fail $? "L1 pings the guest over the tap" "$out"

reply=$(thpvm ctl "$sock" fork count=1 2>&1)
child=$sock.1
_i=0
while [ $_i -lt 15 ] && ! grep -q '^carrier=' "$child.console" 2>/dev/null; do
	thpvm ctl "$child" console 'text=echo carrier=$(cat /sys/class/net/eth0/carrier)' > /dev/null 2>&1
	sleep 2
	_i=$((_i + 1))
done
grep -q '^carrier=0' "$child.console" 2>/dev/null
ok_or_fail $? "a forked child's link is down" "$(echo "$reply" | head -c 300)" "$(tail -n 5 "$child.console" 2>/dev/null)"
thpvm ctl "$child" console 'text=exit' > /dev/null 2>&1
l2_shell_run $name 'for i in 1 2 3 4 5; do ping -c 1 -W 2 10.0.2.1 > /dev/null && break; done; echo again=$?' '^again='
grep -q '^again=0' "$(l2_log $name)"
ok_or_fail $? "the parent still pings L1 after the fork" "$(grep -m1 '^again=' "$(l2_log $name)")" "$(l2_tail $name 20)"

l2_send $name exit
l2_wait $name
