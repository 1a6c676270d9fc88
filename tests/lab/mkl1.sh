#!/bin/bash
# Builds the nested lab's L1 initramfs:
#   tests/lab/mkl1.sh GUEST_DIR OUT.cpio [THPVM]
# GUEST_DIR is the Linux guest recipe's output (guests/linux/build.sh): its
# modules/ load in L1, its vmlinux/bzImage/initramfs.cpio become the L2 guest
# under /guest. L1 also gets busybox, qemu-system-x86_64 (+ shared libraries
# and the microvm firmware) as the baseline L2 VMM, tests/lab/l1/* and the
# cases. THPVM (optional) is the thpvm program: an ELF, or a libtool wrapper
# script whose real binary is in .libs/ next to it (then the build tree's
# .libs/ directories provide libthpvm); it lands in /usr/bin with its libraries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "mkl1: $*" >&2; exit 1; }
[ $# -ge 2 ] && [ $# -le 3 ] || die "usage: mkl1.sh GUEST_DIR OUT.cpio [THPVM]"
guest=$1 out=$2 thpvm=${3:-}
for f in vmlinux bzImage initramfs.cpio modules/load-order; do
	[ -s "$guest/$f" ] || die "$guest/$f missing: build the Linux guest first (make linux-guest)"
done
qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 missing: install the Debian package qemu-system-x86"
busybox=/bin/busybox
[ -x $busybox ] || die "$busybox missing: install the Debian package busybox-static"
qemu_data=$(cd "$(dirname "$qemu")/../share/qemu" && pwd) || die "no QEMU data directory next to $qemu"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/thpvm-l1.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,etc,usr/bin,usr/lib/x86_64-linux-gnu,usr/lib64,usr/share/qemu}
mkdir -p "$root"/{guest,lab/cases,lib/modules}
# usr-merged like Debian 12, so every path ldd prints resolves
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

cp $busybox "$root/bin/busybox"
for applet in $($busybox --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
ln -s bin "$root/sbin"

copy_elf() { # copy_elf BINARY DEST [LD_LIBRARY_PATH]: the binary, its libraries, its interpreter
	local bin=$1 dest=$2 libpath=${3:-} lib interp
	cp -L "$bin" "$root$dest"
	interp=$(readelf -lW "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
	[ -z "$interp" ] || cp -L "$interp" "$root$interp"
	LD_LIBRARY_PATH=$libpath ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' > "$tmp/libs"
	if LD_LIBRARY_PATH=$libpath ldd "$bin" | grep -q 'not found'; then
		die "$bin: $(LD_LIBRARY_PATH=$libpath ldd "$bin" | grep -m1 'not found' | tr -s ' \t' ' ')"
	fi
	while read -r lib; do
		cp -L "$lib" "$root/usr/lib/x86_64-linux-gnu/$(basename "$lib")"
	done < "$tmp/libs"
}

copy_elf "$qemu" /usr/bin/qemu-system-x86_64
# microvm's firmware (qboot) and the option ROMs QEMU loads for -kernel
for f in bios-microvm.bin qboot.rom pvh.bin linuxboot_dma.bin linuxboot.bin; do
	if [ -e "$qemu_data/$f" ]; then cp -L "$qemu_data/$f" "$root/usr/share/qemu/$f"; fi
done
[ -s "$root/usr/share/qemu/bios-microvm.bin" ] || die "$qemu_data/bios-microvm.bin missing (qemu-system-data)"

if [ -n "$thpvm" ]; then
	[ -e "$thpvm" ] || die "thpvm binary $thpvm does not exist"
	real=$thpvm libpath=''
	if [ "$(od -An -t x1 -N 4 "$thpvm" | tr -d ' \n')" != 7f454c46 ]; then
		real="$(dirname "$thpvm")/.libs/$(basename "$thpvm")"
		[ -f "$real" ] || die "$thpvm is a script but $real does not exist (not a libtool build?)"
		# libthpvm and friends: the build tree's uninstalled libraries
		builddir=$(cd "$(dirname "$thpvm")/.." && pwd)
		libpath=$(find "$builddir" -type d -name .libs -printf '%p:' 2>/dev/null)
	fi
	copy_elf "$real" /usr/bin/thpvm "$libpath"
fi

cp "$guest"/modules/*.ko "$guest/modules/load-order" "$root/lib/modules/"
cp "$guest/vmlinux" "$guest/bzImage" "$guest/initramfs.cpio" "$root/guest/"
cat "$guest/kernel-release" > "$root/guest/kernel-release" 2>/dev/null || true
# the guest initramfs's extra programs (not busybox), so cases know what L2 can run
cpio -itv --quiet < "$guest/initramfs.cpio" |
	awk '$1 ~ /^-/ && $NF ~ /^bin\// { sub(/^bin\//, "", $NF); if ($NF != "busybox") print $NF }' > "$root/guest/programs"

cp "$here/l1/init" "$root/init"
cp "$here/l1/lib.sh" "$here/l1/runner.sh" "$here/l1/bench-boot.sh" "$root/lab/"
cp "$here"/cases/*.sh "$root/lab/cases/"
chmod 755 "$root/init" "$root"/lab/*.sh

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
echo "mkl1: $out ($(( $(stat -c %s "$out") / 1048576 )) MiB${thpvm:+, with thpvm})"
