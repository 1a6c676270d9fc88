#!/bin/bash
# Builds the guest's userspace (busybox-static + guests/linux/initramfs/) as
# an initramfs, or as a root disk when OUT ends in .img:
#   guests/linux/mkinitramfs.sh [--modules DIR] OUT.cpio [PROGRAM...]
#   guests/linux/mkinitramfs.sh OUT.img [PROGRAM...]
# OUT.img: an ext4 image (mke2fs -d, Debian's e2fsprogs) with the same /init,
# and /etc/thpvm-rootfs saying it is the disk (the initramfs's /init mounts
# it and switches to it when the kernel's command line has root=).
# --modules DIR: the modules DIR/guest-order names (extract-kernel.sh) go to
# /lib/modules with that list, and /init loads them in its order.
# PROGRAMs are extra static executables (the hook for tlbbench/memtest Linux
# builds): each lands as /bin/NAME and can be started with thpvm.run=NAME.
# OUT ending in .gz is gzip-compressed, otherwise a plain newc cpio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "mkinitramfs: $*" >&2; exit 1; }
modules=
if [ "${1:-}" = --modules ]; then
	[ $# -ge 2 ] || die "--modules needs a directory"
	modules=$2
	shift 2
	[ -f "$modules/guest-order" ] || die "$modules/guest-order missing: extract the kernel again (extract-kernel.sh)"
fi
[ $# -ge 1 ] || die "usage: mkinitramfs.sh [--modules DIR] OUT.cpio[.gz]|OUT.img [PROGRAM...]"
out=$1
shift
busybox=${THPVM_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "$busybox missing: install the Debian package busybox-static"
static() { ! readelf -lW "$1" 2>/dev/null | grep -q 'Requesting program interpreter'; }
static "$busybox" || die "$busybox is dynamically linked: install the Debian package busybox-static"
command -v cpio >/dev/null || die "cpio missing: install the Debian package cpio"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/thpvm-initramfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,etc}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
ln -s bin "$root/sbin"
cp "$here/initramfs/init" "$root/init"
chmod 755 "$root/init"

if [ -n "$modules" ]; then
	mkdir -p "$root/lib/modules"
	while read -r ko; do
		[ -n "$ko" ] || continue
		cp "$modules/$ko" "$root/lib/modules/" || die "module $ko is listed in $modules/guest-order but missing"
	done < "$modules/guest-order"
	cp "$modules/guest-order" "$root/lib/modules/load-order"
fi

# e2fsck for the guest's disks (Debian's e2fsck-static: the guest has no libc)
e2fsck=${THPVM_E2FSCK:-/sbin/e2fsck.static}
if [ -x "$e2fsck" ] && static "$e2fsck"; then rm -f "$root/bin/e2fsck"; cp "$e2fsck" "$root/bin/e2fsck"; fi

# Hook: user programs for the guest (must be static: the guest has no libc).
for prog in "$@"; do
	[ -f "$prog" ] && [ -x "$prog" ] || die "program $prog is not an executable file"
	[ "$(od -An -t x1 -N 4 "$prog" | tr -d ' \n')" = 7f454c46 ] || die "program $prog is not an ELF executable"
	static "$prog" || die "program $prog is dynamically linked; link it with -static"
	cp "$prog" "$root/bin/$(basename "$prog")"
done

mkdir -p "$(dirname "$out")"
case $out in
*.img)
	command -v mke2fs >/dev/null || PATH=$PATH:/sbin:/usr/sbin
	command -v mke2fs >/dev/null || die "mke2fs missing: install the Debian package e2fsprogs"
	echo "thpvm root disk: ext4 made by mke2fs -d from busybox and guests/linux/initramfs" > "$root/etc/thpvm-rootfs"
	mkdir -p "$root/lib/modules"
	rm -f "$out.tmp"
	# 32 MiB, sparse: room for the guest to write; the owner root whoever builds it
	mke2fs -q -F -t ext4 -L thpvm-root -E root_owner=0:0 -d "$root" "$out.tmp" 32M > /dev/null || die "mke2fs failed"
	mv "$out.tmp" "$out"
	echo "root disk: $out (ext4, $(du -k "$out" | cut -f1) KiB used of 32 MiB, busybox${*:+ + $*})"
	exit 0
	;;
esac
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$out.tmp"
case $out in
	*.gz) gzip -9n < "$out.tmp" > "$out"; rm -f "$out.tmp" ;;
	*) mv "$out.tmp" "$out" ;;
esac
echo "initramfs: $out ($(stat -c %s "$out") bytes, busybox${*:+ + $*})"
