#!/bin/bash
# Builds the guest's initramfs (busybox-static + guests/linux/initramfs/):
#   guests/linux/mkinitramfs.sh [--modules DIR] OUT.cpio [PROGRAM...]
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
[ $# -ge 1 ] || die "usage: mkinitramfs.sh [--modules DIR] OUT.cpio[.gz] [PROGRAM...]"
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

# Hook: user programs for the guest (must be static: the guest has no libc).
for prog in "$@"; do
	[ -f "$prog" ] && [ -x "$prog" ] || die "program $prog is not an executable file"
	[ "$(od -An -t x1 -N 4 "$prog" | tr -d ' \n')" = 7f454c46 ] || die "program $prog is not an ELF executable"
	static "$prog" || die "program $prog is dynamically linked; link it with -static"
	cp "$prog" "$root/bin/$(basename "$prog")"
done

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$out.tmp"
case $out in
	*.gz) gzip -9n < "$out.tmp" > "$out"; rm -f "$out.tmp" ;;
	*) mv "$out.tmp" "$out" ;;
esac
echo "initramfs: $out ($(stat -c %s "$out") bytes, busybox${*:+ + $*})"
