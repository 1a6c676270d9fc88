#!/bin/bash
# Installs everything thpvm needs on Debian 12, from Debian's archive only.
set -euo pipefail

packages=(
	build-essential autoconf automake libtool pkg-config   # toolchain (gcc, as, ld)
	libjansson-dev liburing-dev libcriterion-dev           # libraries: JSON, snapshot I/O, tests
	libvirt-dev libxml2-dev                                # run --domain: libvirt validates, libxml2 XPath reads
	linux-libc-dev                                         # KVM and userfaultfd headers
	gnuplot-nox                                            # bench --plot
	qemu-system-x86 busybox-static cpio zstd xz-utils      # the nested Linux lab
	e2fsprogs e2fsck-static                                # the guest's root disk: mke2fs -d, e2fsck inside
	clang-14 libclang-rt-14-dev                            # make fuzz: libFuzzer and the sanitizers
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo) to apt-get install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
