#!/usr/bin/env bash
# Install what klp-convert's build, tests and end-to-end suite need on Debian 12, and unpack the
# Debian kernel image they target into .cache/debian (no apt install of linux-image: its postinst
# rebuilds an initramfs twice for nothing).
#
#   scripts/setup-debian.sh          packages + kernel image
#   scripts/setup-debian.sh --check  only report what is missing (exit 1 if anything is)
#
# Prints KEY=value lines (KVER, KIMG, VMLINUX, KALLSYMS) on stdout; everything else goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${KLP_CACHE:-$here/.cache}/debian
packages=(linux-headers-amd64 qemu-system-x86 busybox-static cpio kmod xz-utils zstd gzip gcc make binutils
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

# The kernel release the headers package is for, e.g. 6.1.0-56-amd64.
kver=${KVER:-$(dpkg-query -W -f='${Depends}' linux-headers-amd64 | grep -o 'linux-headers-[^ ,]*-amd64' | head -1 | sed 's/^linux-headers-//')}
[ -n "$kver" ] || { echo "cannot tell the kernel release of linux-headers-amd64" >&2; exit 1; }
kimg=$cache/kimg-$kver
mkdir -p "$cache"
if [ ! -d "$kimg/lib/modules/$kver/kernel" ]; then
	echo "unpacking linux-image-$kver into $kimg" >&2
	tmp=$(mktemp -d "$cache/dl.XXXXXX")
	(cd "$tmp" && apt-get download -q "linux-image-$kver" >&2)
	dpkg-deb -x "$tmp"/linux-image-"$kver"_*.deb "$tmp/x"
	rm -rf "$kimg" && mv "$tmp/x" "$kimg" && rm -rf "$tmp"
fi
# qemu boots the ELF vmlinux inside the bzImage through its PVH entry, twice as fast under TCG as
# letting the bzImage decompress itself.
vmlinux=$cache/vmlinux-$kver
if [ ! -s "$vmlinux" ]; then
	vmlinuz=$kimg/boot/vmlinuz-$kver
	off=$(grep -abo $'\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1 || true)
	[ -n "$off" ] || { echo "no XZ payload in $vmlinuz" >&2; exit 1; }
	tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream > "$vmlinux.tmp" 2>/dev/null || true
	[ -s "$vmlinux.tmp" ] || { echo "cannot extract vmlinux from $vmlinuz" >&2; rm -f "$vmlinux.tmp"; exit 1; }
	mv "$vmlinux.tmp" "$vmlinux"
fi
# The kernel's own symbol order, for sympos: boot it once and keep its /proc/kallsyms (Debian's
# System.map is a placeholder; the real one is in the 860 MB -dbg package).
kallsyms=$cache/kallsyms-$kver.txt
if [ ! -s "$kallsyms" ]; then
	echo "booting $kver under qemu to dump /proc/kallsyms" >&2
	"$here/scripts/vm/kallsyms-dump.sh" "$vmlinux" "$kallsyms" >&2
fi
echo "KVER=$kver"
echo "KIMG=$kimg"
echo "VMLINUX=$vmlinux"
echo "KALLSYMS=$kallsyms"
