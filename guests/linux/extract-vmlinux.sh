#!/bin/bash
# Extracts the uncompressed vmlinux (ELF) from a bzImage:
#   guests/linux/extract-vmlinux.sh BZIMAGE OUT_VMLINUX
# Like the kernel's scripts/extract-vmlinux, but exact: the setup header says
# where the compressed payload is (payload_offset/payload_length, protocol
# >= 2.08), and the kernel appends the uncompressed size to it, which the
# result must match. Prints one line: the compression, the size, and the PVH
# entry point (XEN_ELFNOTE_PHYS32_ENTRY, Xen note type 18) or "no PVH note".
set -euo pipefail
die() { echo "extract-vmlinux: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: extract-vmlinux.sh BZIMAGE OUT_VMLINUX"
img=$1 out=$2
[ -r "$img" ] || die "cannot read $img"

le() { od -An -t "u$2" -j "$1" -N "$2" "$img" | tr -d ' \n'; } # le OFFSET BYTES
[ "$(od -An -c -j $((0x202)) -N 4 "$img" | tr -d ' \n')" = HdrS ] || die "$img is not a bzImage (no HdrS setup header)"
proto=$(le $((0x206)) 2)
[ "$proto" -ge $((0x208)) ] || die "$img: boot protocol $(printf %#x "$proto") has no payload fields (need >= 2.08)"
setup_sects=$(le $((0x1f1)) 1)
[ "$setup_sects" -ne 0 ] || setup_sects=4
payload_offset=$(le $((0x248)) 4)
payload_length=$(le $((0x24c)) 4)
start=$(( (setup_sects + 1) * 512 + payload_offset ))
size=$(stat -c %s "$img")
[ $((start + payload_length)) -le "$size" ] || die "$img: payload runs past the end of the file (truncated?)"

payload() { tail -c +$((start + 1)) "$img" | head -c "$payload_length"; }
magic=$(od -An -t x1 -j "$start" -N 6 "$img" | tr -d ' \n')
need() { command -v "$1" >/dev/null || die "$img is $2-compressed: install the Debian package $3"; }
case $magic in
	1f8b*)         method=gzip;  need gzip gzip gzip;           decomp=(gzip -dc) ;;
	fd377a585a00)  method=xz;    need xz xz xz-utils;           decomp=(xz -dc --single-stream) ;;
	5d0000*)       method=lzma;  need xz lzma xz-utils;         decomp=(xz -dc --format=lzma) ;;
	28b52ffd*)     method=zstd;  need zstd zstd zstd;           decomp=(zstd -dcq) ;;
	425a68*)       method=bzip2; need bzip2 bzip2 bzip2;        decomp=(bzip2 -dcq) ;;
	894c5a4f*)     method=lzo;   need lzop lzo lzop;            decomp=(lzop -dcq) ;;
	02214c18*)     method=lz4;   need lz4 lz4 lz4;              decomp=(lz4 -dcq) ;;
	7f454c46*)     method=none;  decomp=(cat) ;;
	*) die "$img: unknown payload compression (magic $magic)" ;;
esac

tmp="$out.tmp"
# gzip and zstd may complain about the 4-byte size trailer after the stream;
# the size check below is what decides.
payload | "${decomp[@]}" > "$tmp" 2>/dev/null || true
want=$(le $((start + payload_length - 4)) 4)
got=$(stat -c %s "$tmp")
if [ "$method" != none ] && [ "$got" != "$want" ]; then
	rm -f "$tmp"
	die "$img: decompressed $method payload is $got bytes, the kernel says $want (corrupt image?)"
fi
[ "$(od -An -t x1 -N 4 "$tmp" | tr -d ' \n')" = 7f454c46 ] || { rm -f "$tmp"; die "$img: payload is not an ELF file"; }
mv "$tmp" "$out"

# Xen note 18 = XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit PVH entry point.
pvh=$(readelf -nW "$out" 2>/dev/null | awk '
	$1 == "Xen" && $0 ~ /\(0x00000012\)/ {
		sub(/.*description data: /, ""); printf "0x%s%s%s%s", $4, $3, $2, $1; exit }')
if [ -n "$pvh" ]; then
	echo "vmlinux: $got bytes from a $method payload, PVH entry $pvh"
else
	echo "vmlinux: $got bytes from a $method payload, no PVH note"
fi
