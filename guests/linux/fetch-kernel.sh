#!/bin/bash
# Fetches Debian's kernel package into a cache and prints the .deb's path:
#   guests/linux/fetch-kernel.sh CACHE_DIR
# linux-image-amd64 is a metapackage; the real kernel is the versioned
# linux-image-X.Y.Z-N-amd64 it depends on (Debian 12: 6.1.x). apt-get download
# checks the archive's SHA256; a cached .deb is checked against it again.
# THPVM_LINUX_PACKAGE=linux-image-6.1.0-NN-amd64 pins another version.
set -euo pipefail
die() { echo "fetch-kernel: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: fetch-kernel.sh CACHE_DIR"
cache=$1
mkdir -p "$cache" || die "cannot create cache directory $cache"

apt_opts=(-q -o Debug::NoLocking=1)
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)

resolve() { # prints the versioned kernel package linux-image-amd64 depends on
	apt-cache depends --important linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}

newest_cached() {
	local f
	f=$(ls -1 "$cache"/linux-image-[0-9]*-amd64_*_amd64.deb 2>/dev/null | sort -V | tail -n 1)
	[ -n "$f" ] && echo "$f"
}

pkg=${THPVM_LINUX_PACKAGE:-$(resolve)}
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
	# A fresh machine may have no package lists yet.
	apt-get update -qq >/dev/null 2>&1 || true
	pkg=$(resolve)
fi
if [ -z "$pkg" ]; then
	cached=$(newest_cached) || die "cannot resolve linux-image-amd64 (no apt package lists: run apt-get update) and no cached kernel in $cache"
	echo "fetch-kernel: warning: cannot resolve linux-image-amd64, using cached $(basename "$cached")" >&2
	echo "$cached"
	exit 0
fi

version=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
[ -n "$version" ] && [ "$version" != "(none)" ] || die "package $pkg is unknown to apt (run apt-get update)"
sha=$(apt-cache show "$pkg=$version" 2>/dev/null | awk '/^SHA256:/ { print $2; exit }')
deb="$cache/${pkg}_${version//:/%3a}_amd64.deb"

if [ -f "$deb" ]; then
	if [ -z "$sha" ] || echo "$sha  $deb" | sha256sum -c --status; then
		echo "$deb"
		exit 0
	fi
	echo "fetch-kernel: cached $deb does not match the archive's SHA256, fetching it again" >&2
	rm -f "$deb"
fi

tmp=$(mktemp -d "$cache/.download.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && apt-get download "${apt_opts[@]}" "$pkg=$version" >download.log 2>&1); then
	cached=$(newest_cached) || die "cannot download $pkg=$version from the Debian archive (unreachable?): $(sed -n '/^Err:/{n;s/^ *//;p;q}' "$tmp/download.log")"
	echo "fetch-kernel: warning: cannot download $pkg=$version, using cached $(basename "$cached")" >&2
	echo "$cached"
	exit 0
fi
got=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
[ -n "$got" ] || die "apt-get download $pkg=$version produced no .deb"
if [ -n "$sha" ]; then
	echo "$sha  $got" | sha256sum -c --status || die "downloaded $(basename "$got") does not match the archive's SHA256"
fi
mv "$got" "$deb"
echo "$deb"
