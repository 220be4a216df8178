#!/usr/bin/env bash
# A private minbase root of a Debian release, for building modules of a kernel the host's release
# cannot build (7.x from trixie-backports: its linux-kbuild tools need glibc 2.38 and its headers
# call x86_64-linux-gnu-gcc-14). Made once with debootstrap in the cache (about 460 MB), never
# touching the host's packages.
#
#   scripts/debian-root.sh SUITE [PACKAGE...]     prints the root's path
#
# PACKAGEs missing from an existing root are installed into it (apt-get inside the root), so that
# a later user (klp-convert create: the tools to prepare a kernel tree) can ask for more.
#
# `<root>/enter COMMAND...` runs COMMAND in it, in the current folder, with the host's work
# folders (/tmp, /root, /home, /work, /srv, /opt, /mnt and the cache) mounted at the same paths, so
# paths mean the same inside and out. Needs root (mount namespaces, chroot).
set -euo pipefail
suite=${1:?usage: $0 SUITE [PACKAGE...]}
shift
# The cache and mirror scripts/debian-apt.sh settles for every script.
. "$(dirname "$0")/debian-apt.sh"
root=$cache/roots/$suite
if [ ! -x "$root/enter" ]; then
	[ "$(id -u)" = 0 ] || { echo "debian-root: making a $suite root needs root (debootstrap, chroot)" >&2; exit 1; }
	command -v debootstrap >/dev/null || { echo "debian-root: install debootstrap (apt-get install debootstrap)" >&2; exit 1; }
	# What kbuild runs: the compiler, make, pahole (BTF), and linux-kbuild's tools' libraries.
	pkgs=make,binutils,libc6-dev,pahole,libelf1t64,libssl3t64,zlib1g
	for p in "$@"; do pkgs=$pkgs,$p; done
	echo "debian-root: debootstrap --variant=minbase $suite into $root (once)" >&2
	rm -rf "$root.tmp"
	debootstrap --variant=minbase --include="$pkgs" "$suite" "$root.tmp" "$mirror" >&2
	rm -rf "$root.tmp/var/cache/apt/archives/"*.deb
	cat > "$root.tmp/enter" <<'ENTER'
#!/bin/sh
# Run a command in this private root (scripts/debian-root.sh), in the current folder, with the
# host's work folders at the same paths.
root=$(dirname "$(readlink -f "$0")")
exec unshare --mount --propagation private /bin/sh -c '
root=$1 cwd=$2; shift 2
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
for d in /tmp /root /home /work /srv /opt /mnt @CACHE@; do
	[ -d "$d" ] || continue
	mkdir -p "$root$d" && mount --bind "$d" "$root$d"
done
exec chroot "$root" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
' enter "$root" "$PWD" "$@"
ENTER
	sed -i "s|@CACHE@|'$cache'|" "$root.tmp/enter"
	chmod +x "$root.tmp/enter"
	mv "$root.tmp" "$root"
fi
missing=()
for p in "$@"; do
	"$root/enter" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "debian-root: installing ${missing[*]} into $root" >&2
	"$root/enter" apt-get update -q >&2
	"$root/enter" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
	"$root/enter" apt-get clean
fi
echo "$root"
