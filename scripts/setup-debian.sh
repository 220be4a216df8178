#!/usr/bin/env bash
# Install what klp-convert's build, tests and end-to-end suite need on Debian 12, and fetch the
# Debian kernel they target into the cache outside the checkout (scripts/debian-kernel.sh: image,
# headers tree, kallsyms dump; no apt install of linux-image, no other release's packages on the
# system).
#
#   [KVER=REL] scripts/setup-debian.sh [--dbg]   packages + kernel REL (default: the release of the
#                                                installed linux-headers-amd64); --dbg adds the
#                                                -dbg package's vmlinux (about 1 GB, cached)
#   scripts/setup-debian.sh --check              only report what is missing (exit 1 if anything is)
#
# Prints KEY=value lines (KVER, KDIR, MODULES, SYMVERS, VMLINUX, KALLSYMS, DBG_VMLINUX, ...) on
# stdout; everything else goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
packages=(linux-headers-amd64 qemu-system-x86 busybox-static cpio kmod xz-utils zstd gzip gcc make binutils dwarves debootstrap
	# klp-convert create prepares a kernel tree: its host tools, as kbuild needs them
	gcc-12 flex bison libelf-dev libssl-dev bc patch
	gcc-aarch64-linux-gnu gcc-powerpc64le-linux-gnu gcc-s390x-linux-gnu)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done

if [ "${1:-}" = --check ]; then
	[ ${#missing[@]} -eq 0 ] || { echo "missing Debian packages: ${missing[*]}" >&2; exit 1; }
	exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "klp-convert needs these Debian packages: ${missing[*]}" >&2
		echo "install them as root:  apt-get update && apt-get install --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	echo "installing: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends --no-upgrade -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
fi

# The kernel release the headers package is for, e.g. 6.1.0-56-amd64, unless KVER names another.
kver=${KVER:-$(dpkg-query -W -f='${Depends}' linux-headers-amd64 | grep -o 'linux-headers-[^ ,]*-amd64' | head -1 | sed 's/^linux-headers-//')}
[ -n "$kver" ] || { echo "cannot tell the kernel release of linux-headers-amd64; set KVER" >&2; exit 1; }
exec bash "$here/scripts/debian-kernel.sh" "$@" "$kver"
