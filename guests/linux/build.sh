#!/bin/bash
# Builds thpvm's Linux guest from Debian packages only:
#   guests/linux/build.sh [--suite SUITE] OUTDIR [PROGRAM...]
# SUITE: the Debian suite the kernel comes from (default bookworm, Debian 12's
# 6.1; bookworm-backports has 6.12), see fetch-kernel.sh.
# OUTDIR gets bzImage, vmlinux (uncompressed ELF, PVH note), config,
# kernel-release, modules/ (irqbypass kvm ccp kvm-amd + dependencies, with
# modules/load-order, for the lab's L1; the virtio drivers, with
# modules/guest-order, for the guest), initramfs.cpio (busybox /init, see
# guests/linux/initramfs/init) and rootfs.img (the same userspace on an ext4
# root disk, without the modules: the initramfs loads them and switches to
# it when the command line says root=). PROGRAMs: extra static executables
# for /bin (see mkinitramfs.sh).
# The kernel .deb is cached in $THPVM_CACHE (default ~/.cache/thpvm); the
# kernel is unpacked again only when the .deb changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "linux-guest: $*" >&2; exit 1; }
suite=bookworm
if [ "${1:-}" = --suite ]; then
	[ $# -ge 2 ] || die "--suite needs a Debian suite"
	suite=$2
	shift 2
fi
[ $# -ge 1 ] || die "usage: build.sh [--suite SUITE] OUTDIR [PROGRAM...]"
out=$1
shift
cache=${THPVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/thpvm}
lab_modules=(irqbypass kvm ccp kvm-amd tun) # tun: the taps thpvm makes for L2 guests (--net)
# the guest's own drivers, loaded by its /init: thpvm's virtio devices and ext4 for a root disk
# (Debian builds them as modules; crc32c is ext4's checksum, asked for by name at mount time)
guest_modules=(virtio_mmio virtio_rng virtio_blk virtio_net ext4 crc32c_generic)

mkdir -p "$out"
deb=$("$here/fetch-kernel.sh" "$cache" "$suite") || exit 1
stamp="$out/.kernel-deb"
# the package and the module lists: a module added here unpacks the kernel again
want="$deb ${lab_modules[*]} -- ${guest_modules[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -s "$out/vmlinux" ] || [ ! -s "$out/bzImage" ] ||
   [ ! -s "$out/modules/load-order" ] || [ ! -e "$out/modules/guest-order" ]; then
	rm -f "$stamp"
	"$here/extract-kernel.sh" "$deb" "$out" "${lab_modules[@]}" -- "${guest_modules[@]}"
	echo "$want" > "$stamp"
else
	echo "kernel $(cat "$out/kernel-release"): up to date ($(basename "$deb"))"
fi
"$here/mkinitramfs.sh" --modules "$out/modules" "$out/initramfs.cpio" "$@"
# the same userspace as a root disk: run --disk rootfs.img --cmdline '... root=/dev/vda'
"$here/mkinitramfs.sh" "$out/rootfs.img" "$@"
