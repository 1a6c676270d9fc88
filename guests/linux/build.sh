#!/bin/bash
# Builds thpvm's Linux guest from Debian packages only:
#   guests/linux/build.sh OUTDIR [PROGRAM...]
# OUTDIR gets bzImage, vmlinux (uncompressed ELF, PVH note), config,
# kernel-release, modules/ (irqbypass kvm ccp kvm-amd + dependencies, with
# modules/load-order) and initramfs.cpio (busybox /init, see
# guests/linux/initramfs/init). PROGRAMs: extra static executables for the
# initramfs's /bin (see mkinitramfs.sh).
# The kernel .deb is cached in $THPVM_CACHE (default ~/.cache/thpvm); the
# kernel is unpacked again only when the .deb changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "linux-guest: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: build.sh OUTDIR [PROGRAM...]"
out=$1
shift
cache=${THPVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/thpvm}
lab_modules=(irqbypass kvm ccp kvm-amd)

mkdir -p "$out"
deb=$("$here/fetch-kernel.sh" "$cache/debs") || exit 1
stamp="$out/.kernel-deb"
if [ "$(cat "$stamp" 2>/dev/null)" != "$deb" ] || [ ! -s "$out/vmlinux" ] || [ ! -s "$out/bzImage" ] ||
   [ ! -s "$out/modules/load-order" ]; then
	rm -f "$stamp"
	"$here/extract-kernel.sh" "$deb" "$out" "${lab_modules[@]}"
	echo "$deb" > "$stamp"
else
	echo "kernel $(cat "$out/kernel-release"): up to date ($(basename "$deb"))"
fi
"$here/mkinitramfs.sh" "$out/initramfs.cpio" "$@"
