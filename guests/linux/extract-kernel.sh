#!/bin/bash
# Unpacks what thpvm's Linux guests need from a Debian kernel .deb:
#   guests/linux/extract-kernel.sh DEB OUTDIR MODULE... [-- GUEST_MODULE...]
# Writes OUTDIR/bzImage, OUTDIR/vmlinux, OUTDIR/config, OUTDIR/kernel-release
# and OUTDIR/modules/: the named modules plus everything they depend on
# (each module's .modinfo "depends=", followed to the end; the package has no
# modules.dep, depmod writes it at install time), flat as NAME.ko, and
# modules/load-order: the file names of the MODULEs and their dependencies
# in an order insmod accepts (what the lab's L1 loads); modules/guest-order:
# the same for the GUEST_MODULEs (what the guest's initramfs loads: the
# virtio drivers). Compressed modules (.ko.xz, .ko.zst, .ko.gz: Debian's
# 6.12) are unpacked.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "extract-kernel: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: extract-kernel.sh DEB OUTDIR MODULE..."
deb=$1 out=$2
shift 2
lab=() guest=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do lab+=("$1"); shift; done
[ $# -eq 0 ] || { shift; guest=("$@"); }
command -v readelf >/dev/null && command -v objcopy >/dev/null || die "readelf/objcopy missing: install the Debian package binutils"

mkdir -p "$out"
tmp=$(mktemp -d "$out/.extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
untar() { dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/root" --wildcards "$@"; }
mkdir -p "$tmp/root"

dpkg-deb --fsys-tarfile "$deb" | tar -t > "$tmp/list" || die "$deb is not a readable Debian package"
vmlinuz=$(grep -m1 -E '^\./boot/vmlinuz-' "$tmp/list") || die "$deb has no /boot/vmlinuz-*"
release=${vmlinuz#./boot/vmlinuz-}
# NAME (with _ for -) -> path, for every module in the package
grep -E '\.ko(\.xz|\.zst|\.gz)?$' "$tmp/list" |
	awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n); gsub(/-/, "_", n); print n, $0 }' > "$tmp/index"

modname() { echo "${1//-/_}"; }
path_of() { awk -v n="$(modname "$1")" '$1 == n { print $2; exit }' "$tmp/index"; }
depends_of() { # DOTKO: the module names it depends on, one a line
	objcopy -O binary --only-section=.modinfo "$1" "$tmp/modinfo" 2>/dev/null || die "cannot read .modinfo of $(basename "$1")"
	tr '\0' '\n' < "$tmp/modinfo" | sed -n 's/^depends=//p' | tr ',' '\n' | sed '/^$/d'
}

# Breadth-first over the dependency graph, one tar pass per level.
declare -A seen=()
declare -a order_all=()
level=()
for m in "${lab[@]}" "${guest[@]+"${guest[@]}"}"; do level+=("$(modname "$m")"); done
untar "$vmlinuz" "./boot/config-$release"
while [ ${#level[@]} -gt 0 ]; do
	paths=() fresh=()
	for m in "${level[@]}"; do
		[ -n "${seen[$m]:-}" ] && continue
		p=$(path_of "$m")
		[ -n "$p" ] || die "module $m is not in $(basename "$deb")"
		seen[$m]=$p
		order_all+=("$m")
		paths+=("$p")
		fresh+=("$m")
	done
	[ ${#paths[@]} -gt 0 ] || break
	untar "${paths[@]}"
	next=()
	for m in "${fresh[@]}"; do
		p=${seen[$m]}
		# 6.1 ships plain .ko; newer Debian kernels .ko.xz (or .zst, .gz):
		# busybox's insmod in L1 takes only plain ones
		case $p in
			*.ko) ;;
			*.ko.xz) xz -d "$tmp/root/$p" || die "cannot unpack $p" ;;
			*.ko.zst) zstd -q -d --rm "$tmp/root/$p" || die "cannot unpack $p" ;;
			*.ko.gz) gzip -d "$tmp/root/$p" || die "cannot unpack $p" ;;
		esac
		seen[$m]=${p%.ko*}.ko
		while read -r d; do next+=("$(modname "$d")"); done < <(depends_of "$tmp/root/${seen[$m]}")
	done
	level=("${next[@]+"${next[@]}"}")
done

# Load order: a module after all of its dependencies (depth-first post-order).
declare -A placed=()
order=()
place() {
	local m=$1 d
	[ -n "${placed[$m]:-}" ] && return
	placed[$m]=1
	for d in $(depends_of "$tmp/root/${seen[$m]}"); do place "$(modname "$d")"; done
	order+=("$(basename "${seen[$m]}")")
}
for m in "${lab[@]}"; do place "$(modname "$m")"; done
lab_order=("${order[@]+"${order[@]}"}")
placed=() order=()
for m in "${guest[@]+"${guest[@]}"}"; do place "$(modname "$m")"; done
guest_order=("${order[@]+"${order[@]}"}")

rm -rf "$out/modules"
mkdir -p "$out/modules"
for m in "${order_all[@]}"; do cp "$tmp/root/${seen[$m]}" "$out/modules/"; done
printf '%s\n' "${lab_order[@]}" > "$out/modules/load-order"
printf '%s\n' "${guest_order[@]+"${guest_order[@]}"}" > "$out/modules/guest-order"
cp "$tmp/root/boot/config-$release" "$out/config"
echo "$release" > "$out/kernel-release"
cp "$tmp/root/${vmlinuz#./}" "$out/bzImage"
"$here/extract-vmlinux.sh" "$out/bzImage" "$out/vmlinux"
echo "kernel $release: bzImage, vmlinux, modules: ${lab_order[*]}; guest modules: ${guest_order[*]+"${guest_order[*]}"}"
