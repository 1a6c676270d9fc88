#!/bin/bash
# Builds the nested lab's L1 initramfs:
#   tests/lab/mkl1.sh --l1 KERNEL_DIR --l2 GUEST_DIR [--l2 GUEST_DIR...]
#                     [--thpvm PATH] [--builddir DIR --test PATH...] OUT.cpio
# KERNEL_DIR and GUEST_DIRs are outputs of the Linux guest recipe
# (guests/linux/build.sh). L1 boots KERNEL_DIR's kernel (run.sh passes its
# vmlinux to QEMU) and loads its modules/ (KVM). Each GUEST_DIR's vmlinux,
# bzImage and initramfs.cpio become an L2 guest under /guests/NAME (NAME: the
# directory's name, e.g. linux, linux-backports); the first one is also
# /guest. L1 also gets busybox, qemu-system-x86_64 ($LAB_QEMU or the one in $PATH; + shared libraries and the
# microvm firmware) as the baseline L2 VMM, tests/lab/l1/* and the cases.
# --thpvm PATH: the thpvm program, in /usr/bin with its libraries: an ELF, or
#   a libtool wrapper script whose real binary is in .libs/ next to it (then
#   the build tree's .libs/ directories provide libthpvm); the payload
#   guests next to it (its tree's guests/*.bin) go to /lab/payloads.
#   Its tree's Linux user programs (guests/linux-user: blkbench) go to /lab/linux-user.
# --builddir DIR --test PATH...: the KVM suite. Each Criterion test binary
#   PATH (in DIR) lands at the same absolute path in L1, with its libraries,
#   and so do what the tests open there: DIR/vmm/thpvm, the payloads
#   (DIR/guests/*.bin), the Linux user programs (DIR/guests/linux-user) and
#   the Linux guests (DIR/guests/linux*, links to /guests/NAME). /lab/suite
#   lists the tests, in order, for /lab/suite.sh; $LAB_SUITE_ARGS, more
#   options for every test binary (e.g. "--verbose --filter 'fork/*'");
#   $LAB_TRACE, L1 KVM trace events shown after a binary that failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "mkl1: $*" >&2; exit 1; }
usage="usage: mkl1.sh --l1 KERNEL_DIR --l2 GUEST_DIR... [--thpvm PATH] [--builddir DIR --test PATH...] OUT.cpio"
l1='' thpvm='' builddir='' out=''
l2=() tests=()
while [ $# -gt 0 ]; do
	case $1 in --l1|--l2|--thpvm|--builddir|--test) [ $# -ge 2 ] || die "$1 needs a value" ;; esac
	case $1 in
		--l1) l1=$2; shift ;;
		--l2) l2+=("$2"); shift ;;
		--thpvm) thpvm=$2; shift ;;
		--builddir) builddir=$(cd "$2" && pwd) || die "no build directory $2"; shift ;;
		--test) tests+=("$2"); shift ;;
		-*) die "unknown option '$1' ($usage)" ;;
		*) [ -z "$out" ] || die "$usage"; out=$1 ;;
	esac
	shift
done
[ -n "$l1" ] && [ ${#l2[@]} -gt 0 ] && [ -n "$out" ] || die "$usage"
[ ${#tests[@]} -eq 0 ] || [ -n "$builddir" ] || die "--test needs --builddir"
[ -s "$l1/modules/load-order" ] || die "$l1/modules/load-order missing: build the Linux guest first (make linux-guest)"
for g in "${l2[@]}"; do
	for f in vmlinux bzImage initramfs.cpio kernel-release; do
		[ -s "$g/$f" ] || die "$g/$f missing: build the Linux guest first (make linux-guest)"
	done
done
qemu=${LAB_QEMU:-$(command -v qemu-system-x86_64)} || die "qemu-system-x86_64 missing: install the Debian package qemu-system-x86"
busybox=/bin/busybox
[ -x $busybox ] || die "$busybox missing: install the Debian package busybox-static"
qemu_data=$(cd "$(dirname "$qemu")/../share/qemu" && pwd) || die "no QEMU data directory next to $qemu"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/thpvm-l1.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,etc,usr/bin,usr/lib/x86_64-linux-gnu,usr/lib64,usr/share/qemu}
mkdir -p "$root"/{guests,lab/cases,lib/modules}
# usr-merged like Debian 12, so every path ldd prints resolves
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

cp $busybox "$root/bin/busybox"
for applet in $($busybox --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
ln -s bin "$root/sbin"

# the build tree's uninstalled libraries (libthpvm), for libtool wrappers
build_libpath() { find "$1" -type d -name .libs -printf '%p:' 2>/dev/null; }
copy_elf() { # copy_elf BINARY DEST [LD_LIBRARY_PATH]: the binary, its libraries, its interpreter
	local bin=$1 dest=$2 libpath=${3:-} lib interp
	mkdir -p "$(dirname "$root$dest")"
	cp -L "$bin" "$root$dest"
	interp=$(readelf -lW "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
	[ -z "$interp" ] || cp -L "$interp" "$root$interp"
	LD_LIBRARY_PATH=$libpath ldd "$bin" > "$tmp/ldd" 2>&1 || true
	if grep -q 'not found' "$tmp/ldd"; then
		die "$bin: $(grep -m1 'not found' "$tmp/ldd" | tr -s ' \t' ' ')"
	fi
	awk '$2 == "=>" && $3 ~ /^\// { print $3 }' "$tmp/ldd" | while read -r lib; do
		[ -e "$root/usr/lib/x86_64-linux-gnu/$(basename "$lib")" ] ||
			cp -L "$lib" "$root/usr/lib/x86_64-linux-gnu/$(basename "$lib")"
	done
}
real_elf() { # real_elf PATH: PATH itself when an ELF, else a libtool wrapper's .libs/ binary
	if [ "$(od -An -t x1 -N 4 "$1" | tr -d ' \n')" = 7f454c46 ]; then
		echo "$1"
		return
	fi
	local real
	real="$(dirname "$1")/.libs/$(basename "$1")"
	[ -f "$real" ] || die "$1 is a script but $real does not exist (not a libtool build?)"
	echo "$real"
}

copy_elf "$qemu" /usr/bin/qemu-system-x86_64
# microvm's firmware (qboot) and the option ROMs QEMU loads for -kernel
for f in bios-microvm.bin qboot.rom pvh.bin linuxboot_dma.bin linuxboot.bin; do
	if [ -e "$qemu_data/$f" ]; then cp -L "$qemu_data/$f" "$root/usr/share/qemu/$f"; fi
done
[ -s "$root/usr/share/qemu/bios-microvm.bin" ] || die "$qemu_data/bios-microvm.bin missing (qemu-system-data)"

if [ -n "$thpvm" ]; then
	[ -e "$thpvm" ] || die "thpvm binary $thpvm does not exist"
	tree=$(cd "$(dirname "$thpvm")/.." && pwd)
	copy_elf "$(real_elf "$thpvm")" /usr/bin/thpvm "$(build_libpath "$tree")"
	# libvirt validates --domain XML against its schemas (libvirt0's files), read at run time
	if [ -d /usr/share/libvirt/schemas ]; then
		mkdir -p "$root/usr/share/libvirt"
		cp -r /usr/share/libvirt/schemas "$root/usr/share/libvirt/"
	fi
	# its payload guests, for /usr/bin/thpvm (L1's init sets THPVM_PAYLOAD_DIR)
	mkdir -p "$root/lab/payloads"
	if ls "$tree"/guests/*.bin > /dev/null 2>&1; then cp "$tree"/guests/*.bin "$root/lab/payloads/"; fi
	# its Linux user programs (blkbench: thpvm bench blk's host side)
	if [ -d "$tree/guests/linux-user" ]; then cp -r "$tree/guests/linux-user" "$root/lab/"; fi
fi

cp "$l1"/modules/*.ko "$l1/modules/load-order" "$root/lib/modules/"
cp "$l1/kernel-release" "$root/lib/modules/kernel-release"
for g in "${l2[@]}"; do
	name=$(basename "$g")
	mkdir -p "$root/guests/$name"
	cp "$g/vmlinux" "$g/bzImage" "$g/initramfs.cpio" "$g/kernel-release" "$root/guests/$name/"
	if [ -e "$g/rootfs.img" ]; then cp "$g/rootfs.img" "$root/guests/$name/"; fi
	# the guest initramfs's extra programs (not busybox), so cases know what L2 can run
	cpio -itv --quiet < "$g/initramfs.cpio" |
		awk '$1 ~ /^-/ && $NF ~ /^bin\// { sub(/^bin\//, "", $NF); if ($NF != "busybox") print $NF }' \
		> "$root/guests/$name/programs"
done
ln -s "guests/$(basename "${l2[0]}")" "$root/guest"

if [ ${#tests[@]} -gt 0 ]; then
	libpath=$(build_libpath "$builddir")
	: > "$root/lab/suite"
	for t in "${tests[@]}"; do
		case $t in /*) ;; *) t=$builddir/$t ;; esac
		[ -e "$t" ] || die "test $t does not exist (make check TESTS= builds them)"
		copy_elf "$(real_elf "$t")" "$t" "$libpath"
		echo "$t" >> "$root/lab/suite"
	done
	[ -e "$builddir/vmm/thpvm" ] || die "$builddir/vmm/thpvm missing: build thpvm first"
	copy_elf "$(real_elf "$builddir/vmm/thpvm")" "$builddir/vmm/thpvm" "$libpath"
	mkdir -p "$root$builddir/guests"
	cp "$builddir"/guests/*.bin "$root$builddir/guests/"
	[ ! -d "$builddir/guests/linux-user" ] || cp -r "$builddir/guests/linux-user" "$root$builddir/guests/"
	[ ! -d "$builddir/guests/multiboot" ] || cp -r "$builddir/guests/multiboot" "$root$builddir/guests/"
	for g in "${l2[@]}"; do
		ln -s "/guests/$(basename "$g")" "$root$builddir/guests/$(basename "$g")"
	done
	echo "$builddir" > "$root/lab/builddir"
	printf '%s\n' "${LAB_SUITE_ARGS:-}" > "$root/lab/suite-args"
	[ -z "${LAB_TRACE:-}" ] || printf '%s\n' "$LAB_TRACE" > "$root/lab/trace-events"
fi

cp "$here/l1/init" "$root/init"
cp "$here/l1/lib.sh" "$here/l1/runner.sh" "$here/l1/suite.sh" "$here/l1/bench-boot.sh" "$root/lab/"
printf '%s\n' "${LAB_DEMO_ARGS:-}" > "$root/lab/demo-args"
printf '%s\n' "${LAB_BENCH_BLK_ARGS:-}" > "$root/lab/bench-blk-args"
cp "$here"/cases/*.sh "$root/lab/cases/"
chmod 755 "$root/init" "$root"/lab/*.sh

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
echo "mkl1: $out ($(( $(stat -c %s "$out") / 1048576 )) MiB: L1 $(cat "$l1/kernel-release"), L2 ${l2[*]##*/}${thpvm:+, thpvm}${tests:+, ${#tests[@]} tests})"
