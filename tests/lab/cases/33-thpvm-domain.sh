# A Linux guest from libvirt domain XML (issue 14, docs/libvirt.md): `thpvm run --domain FILE.xml` with
# the kernel, initrd and command line, the root disk (the recipe's rootfs.img as vda), the console (COM1 on
# stdio), the memory (320 MiB) and its backing (THP, allocated at once) all taken from the XML: the guest
# boots from its disk with that much memory, its shell answers on the console, and thpvm's stats show the
# XML's memory on THP; the control socket's domxml describes the running VM back (its name, disk and
# memory, and its coverage now). An element thpvm does not implement is refused by its XPath before
# anything runs.
name=domain
sock=$L2_DIR/domain.sock
xml=$L2_DIR/domain.xml
disk=$L2_DIR/domain-root.img
descs="the guest boots from the domain's root disk|it has the domain's memory|thpvm's stats show the domain's memory on THP|domxml describes the running VM, its memory on THP now|a <graphics> element is refused by its XPath"
case_can_run "thpvm L2 domain XML" "$descs" --domain || return 0
ok_or_fail() { case_result "thpvm L2 domain XML" "$@"; } # ok_or_fail STATUS DESC DIAG...
[ -e "$GUEST/rootfs.img" ] || { case_skip_all "thpvm L2 domain XML" "$descs" "the guest has no rootfs.img"; return 0; }

cp "$GUEST/rootfs.img" "$disk"
domain_xml() { # domain_xml [EXTRA_DEVICE_XML]
	cat <<EOF
<domain type='kvm'>
  <name>thpvm-lab</name>
  <memory unit='MiB'>320</memory>
  <currentMemory unit='MiB'>320</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <memoryBacking><source type='anonymous'/><allocation mode='immediate'/></memoryBacking>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$GUEST/vmlinux</kernel>
    <initrd>$GUEST/initramfs.cpio</initrd>
    <cmdline>$L2_CMDLINE root=/dev/vda thpvm.shell=1</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$disk'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='stdio'><target port='0'/></serial>
    $1
  </devices>
</domain>
EOF
}

domain_xml "<graphics type='vnc'/>" > "$xml"
out=$(thpvm run --domain "$xml" 2>&1)
st=$?
[ $st = 2 ] && echo "$out" | grep -q "/domain/devices/graphics"
ok_or_fail $? "a <graphics> element is refused by its XPath" "status $st: $(echo "$out" | head -c 300)"

domain_xml > "$xml"
l2_console_in $name
l2_run $name thpvm run --domain "$xml" --ctl-sock "$sock" &
# no quotes in what is typed: a first try the shell half-read must not leave it inside one
l2_shell_run $name 'set -- $(grep -m1 vda /proc/mounts); r=$1,$2; set -- $(grep MemTotal /proc/meminfo); echo root=$r memkb=$2' '^root=[/,]'
grep -q '^root=/dev/vda,/ ' "$(l2_log $name)"
ok_or_fail $? "the guest boots from the domain's root disk" "$(grep -m1 '^root=' "$(l2_log $name)")" "$(l2_tail $name 20)"
kb=$(sed -n 's/^root=[^ ]* memkb=\([0-9]*\).*/\1/p' "$(l2_log $name)" | head -n 1)
# MemTotal is RAM less what the kernel keeps: between 250 and 320 MiB of a 320 MiB guest
[ -n "$kb" ] && [ "$kb" -gt $((250 * 1024)) ] && [ "$kb" -le $((320 * 1024)) ]
ok_or_fail $? "it has the domain's memory" "MemTotal ${kb:-?} kB"
st=$(thpvm ctl --raw "$sock" stats 2>/dev/null)
echo "$st" | tr -d ' ' | grep -q '"size_bytes":335544320' && echo "$st" | tr -d ' ' | grep -q '"backing":"thp"'
ok_or_fail $? "thpvm's stats show the domain's memory on THP" "$(echo "$st" | head -c 400)"
now=$(thpvm ctl "$sock" domxml 2>&1)
# allocated at once on THP: (nearly) all of it on 2 MiB pages when asked
hb=$(echo "$now" | sed -n 's/.*<thpvm:measured size_bytes="335544320" huge_bytes="\([0-9]*\)".*/\1/p')
echo "$now" | grep -q '<name>thpvm-lab</name>' && echo "$now" | grep -q "<source file=\"$disk\"/>" &&
	echo "$now" | grep -q '<memory unit="KiB">327680</memory>' && [ "${hb:-0}" -ge $((335544320 * 9 / 10)) ]
ok_or_fail $? "domxml describes the running VM, its memory on THP now" "$(echo "$now" | head -c 1500)"
l2_send $name exit
l2_wait $name
rm -f "$disk" "$xml"
