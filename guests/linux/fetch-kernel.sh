#!/bin/bash
# Fetches a Debian kernel package into a cache and prints the .deb's path:
#   guests/linux/fetch-kernel.sh CACHE_DIR [SUITE]
# SUITE is a Debian suite: bookworm (default; Debian 12's 6.1.x) or
# bookworm-backports (6.12.x), or any other the archive has. linux-image-amd64
# is a metapackage; the real kernel is the versioned linux-image-X.Y.Z-N-amd64
# it depends on.
# apt runs with a private configuration under CACHE_DIR/apt/SUITE (its own
# sources.list and package lists): the host's /etc/apt and /var/lib/apt are
# never touched. apt-get download checks the archive's SHA256; a cached .deb
# is checked against it again.
#   THPVM_LINUX_PACKAGE=linux-image-6.1.0-NN-amd64  pins another version
#   THPVM_DEBIAN_MIRROR=URL   the archive (default http://deb.debian.org/debian)
#   THPVM_DEBIAN_SECURITY_MIRROR=URL  (default http://deb.debian.org/debian-security)
set -euo pipefail
die() { echo "fetch-kernel: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: fetch-kernel.sh CACHE_DIR [SUITE]"
cache=$1 suite=${2:-bookworm}
[[ $suite =~ ^[a-z0-9-]+$ ]] || die "'$suite' is not a Debian suite name"
mirror=${THPVM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${THPVM_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
debs=$cache/debs apt_dir=$cache/apt/$suite
mkdir -p "$debs" "$apt_dir/lists/partial" "$apt_dir/archives/partial" || die "cannot create cache directory $cache"

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring missing: install the Debian package debian-archive-keyring"
# A release (no dash in its name) comes with its point-release updates and
# its security suite, where Debian ships its newest kernels.
{
	printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite"
	if [[ $suite != *-* ]]; then
		printf 'deb [signed-by=%s] %s %s-updates main\n' "$keyring" "$mirror" "$suite"
		printf 'deb [signed-by=%s] %s %s-security main\n' "$keyring" "$security" "$suite"
	fi
} > "$apt_dir/sources.list"
apt_opts=(-q -o Debug::NoLocking=1
	-o Dir::Etc::sourcelist="$apt_dir/sources.list" -o Dir::Etc::sourceparts=/nonexistent
	-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir" -o Dir::Cache::archives="$apt_dir/archives"
	-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)

# The suite's package lists, fetched again when older than a day.
stamp=$apt_dir/updated
if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
	if apt-get "${apt_opts[@]}" update > "$apt_dir/update.log" 2>&1; then
		touch "$stamp"
	else
		echo "fetch-kernel: warning: apt-get update for $suite failed: $(grep -m1 -E '^(Err|E):' "$apt_dir/update.log" || tail -n 1 "$apt_dir/update.log")" >&2
	fi
fi

resolve() { # prints the versioned kernel package linux-image-amd64 depends on
	apt-cache "${apt_opts[@]}" depends --important linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}
# The newest cached kernel of this suite: backports' versions carry "bpo".
newest_cached() {
	local f
	if [[ $suite == *backports ]]; then
		f=$(ls -1 "$debs"/linux-image-[0-9]*-amd64_*bpo*_amd64.deb 2>/dev/null | sort -V | tail -n 1)
	else
		f=$(ls -1 "$debs"/linux-image-[0-9]*-amd64_*_amd64.deb 2>/dev/null | grep -v bpo | sort -V | tail -n 1)
	fi
	[ -n "$f" ] && echo "$f"
}

pkg=${THPVM_LINUX_PACKAGE:-$(resolve)}
if [ -z "$pkg" ]; then
	cached=$(newest_cached) || die "cannot resolve linux-image-amd64 in $suite (no package lists: is $mirror reachable?) and no cached kernel in $debs"
	echo "fetch-kernel: warning: cannot resolve linux-image-amd64 in $suite, using cached $(basename "$cached")" >&2
	echo "$cached"
	exit 0
fi

version=$(apt-cache "${apt_opts[@]}" policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
[ -n "$version" ] && [ "$version" != "(none)" ] || die "package $pkg is not in $suite"
sha=$(apt-cache "${apt_opts[@]}" show "$pkg=$version" 2>/dev/null | awk '/^SHA256:/ { print $2; exit }')
deb="$debs/${pkg}_${version//:/%3a}_amd64.deb"

if [ -f "$deb" ]; then
	if [ -z "$sha" ] || echo "$sha  $deb" | sha256sum -c --status; then
		echo "$deb"
		exit 0
	fi
	echo "fetch-kernel: cached $deb does not match the archive's SHA256, fetching it again" >&2
	rm -f "$deb"
fi

tmp=$(mktemp -d "$debs/.download.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && apt-get download "${apt_opts[@]}" "$pkg=$version" >download.log 2>&1); then
	cached=$(newest_cached) || die "cannot download $pkg=$version from $mirror (unreachable?): $(sed -n '/^Err:/{n;s/^ *//;p;q}' "$tmp/download.log")"
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
