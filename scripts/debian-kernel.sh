#!/usr/bin/env bash
# Fetch one Debian kernel release into a cache outside the checkout, without installing anything:
# its image (modules, bootable vmlinux), its headers with their -common tree and linux-kbuild (a
# kbuild tree for `klp-convert build --kdir`), optionally its -dbg vmlinux, and a dump of its
# /proc/kallsyms (booted once under qemu). Packages come from the Debian suite that has the release
# (bookworm, bookworm-backports, trixie, trixie-backports, sid) through a private apt configuration
# (`apt-get download`, `dpkg-deb -x`): the system's apt sources and packages are left alone.
#
#   scripts/debian-kernel.sh [--dbg] [--no-kallsyms] REL      e.g. 6.12.95+deb12-amd64
#
# REL may also be a suite name (bookworm-backports, trixie-backports, ...): its newest kernel.
# Cache: $KLP_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/klp-convert; the kernel goes to
# <cache>/debian/REL. Mirror: $DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Prints KEY=value lines (KVER, SUITE, KDIR, MODULES, SYMVERS, VMLINUX, KALLSYMS, DBG_VMLINUX,
# ROOT) on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dbg=0 kallsyms=1
while [ $# -gt 1 ]; do
	case $1 in
	--dbg) dbg=1 ;;
	--no-kallsyms) kallsyms=0 ;;
	*) echo "usage: $0 [--dbg] [--no-kallsyms] REL" >&2; exit 2 ;;
	esac
	shift
done
rel=${1:?usage: $0 [--dbg] [--no-kallsyms] REL}
# --- private apt configuration, one per suite (use_suite, apt_opts); also sets cache and mirror ----
. "$here/scripts/debian-apt.sh"
kc=$cache/debian/$rel
root=$kc/root
log() { echo "debian-kernel: $*" >&2; }

apt_show() { apt-cache "${apt_opts[@]}" show "$1" 2>/dev/null || true; }
# A field of the first record apt-cache showed (read whole: no early exit into a SIGPIPE).
field() { awk -v f="$1: " 'index($0, f) == 1 && !done { print substr($0, length(f) + 1); done = 1 }'; }

# A suite name stands for the newest kernel it serves (what its linux-headers-amd64 depends on):
# the way to follow a suite whose older kernels leave the archive (bookworm-backports keeps only
# its newest headers and -dbg).
case $rel in
bookworm | bookworm-backports | trixie | trixie-backports | sid)
	use_suite "$rel"
	newest=$(apt_show linux-headers-amd64 | field Depends | tr ',' '\n' | sed -n 's/^ *linux-headers-\([^ ]*-amd64\).*/\1/p')
	[ -n "$newest" ] || { echo "debian-kernel: $rel has no linux-headers-amd64" >&2; exit 1; }
	log "$rel: newest kernel $newest"
	rel=$newest kc=$cache/debian/$newest root=$cache/debian/$newest/root
	;;
esac

# The suites a release is likely in, most likely first; the others are tried after.
case $rel in
*+deb12-*) guess=(bookworm-backports) ;;
6.12.*+deb13-*) guess=(trixie trixie-backports) ;;
*+deb13-*) guess=(trixie-backports trixie) ;;
*+deb1[4-9]-*) guess=(sid) ;;
*) guess=(bookworm) ;;
esac
suite=
if [ -f "$kc/suite" ]; then
	suite=$(cat "$kc/suite")
else
	for s in "${guess[@]}" bookworm bookworm-backports trixie trixie-backports sid; do
		use_suite "$s"
		if [ -n "$(apt_show "linux-image-$rel")" ]; then suite=$s; break; fi
	done
	[ -n "$suite" ] || { echo "debian-kernel: no Debian suite serves linux-image-$rel (bookworm, bookworm-backports, trixie, trixie-backports, sid)" >&2; exit 1; }
	mkdir -p "$kc" && echo "$suite" > "$kc/suite"
fi

# Download the newest NAME (or NAME=VERSION) of the suite and unpack it into the cache's root tree.
unpack() {
	local spec=$1 tmp
	[ ${#apt_opts[@]} -gt 0 ] || use_suite "$suite"
	tmp=$(mktemp -d "$kc/dl.XXXXXX")
	log "downloading $spec ($suite)"
	(cd "$tmp" && apt-get "${apt_opts[@]}" download "$spec" >&2)
	dpkg-deb -x "$tmp"/*.deb "$root"
	rm -rf "$tmp"
}
# The packages of a Depends field whose name matches a pattern: name=version when it pins one.
deps() { tr ',|' '\n\n' | sed -n -e "s/^ *\($1\) *(= *\([^)]*\)).*/\1=\2/p" -e t -e "s/^ *\($1\) *\((.*)\)\{0,1\} *\$/\1/p"; }

# --- the image: modules and the bootable kernel ------------------------------------------------
if [ ! -f "$kc/image.done" ]; then
	mkdir -p "$root"
	use_suite "$suite"
	unpack "linux-image-$rel"
	# From 7.x linux-image-REL is a metapackage over the packages holding the files.
	for p in binary modules base; do
		for d in $(apt_show "linux-image-$rel" | field Depends | deps "linux-$p-$rel"); do unpack "$d"; done
	done
	touch "$kc/image.done"
fi
moddir=$root/lib/modules/$rel
[ -d "$moddir/kernel" ] || moddir=$root/usr/lib/modules/$rel
vmlinuz=$root/boot/vmlinuz-$rel
[ -f "$vmlinuz" ] || vmlinuz=$moddir/vmlinuz
[ -d "$moddir/kernel" ] && [ -f "$vmlinuz" ] || { echo "debian-kernel: linux-image-$rel has no modules or vmlinuz where expected" >&2; exit 1; }

# qemu boots the ELF vmlinux inside the bzImage through its PVH entry, twice as fast under TCG as
# letting the bzImage decompress itself. The boot protocol header says where the payload is
# (Documentation/arch/x86/boot.rst: setup_sects at 0x1f1, payload_offset/payload_length at 0x248):
# XZ on 6.1, ZSTD from 6.12. Its last 4 bytes are the decompressed size, not compressed data.
vmlinux=$kc/vmlinux
if [ ! -s "$vmlinux" ]; then
	u8() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }
	u32() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' '; }
	off=$(( ($(u8 "$vmlinuz" $((0x1f1))) + 1) * 512 + $(u32 "$vmlinuz" $((0x248))) ))
	len=$(u32 "$vmlinuz" $((0x24c)))
	magic=$(od -An -tx1 -j "$off" -N 4 "$vmlinuz" | tr -d ' ')
	case $magic in
	fd377a58) dec=(xz -dc --single-stream) ;;
	28b52ffd) dec=(zstd -dcq) ;;
	*) echo "debian-kernel: $vmlinuz: payload neither XZ nor ZSTD (magic $magic)" >&2; exit 1 ;;
	esac
	dd if="$vmlinuz" iflag=skip_bytes,count_bytes skip="$off" count=$((len - 4)) status=none | "${dec[@]}" > "$vmlinux.tmp"
	[ "$(head -c 4 "$vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || { echo "debian-kernel: cannot extract vmlinux from $vmlinuz" >&2; exit 1; }
	mv "$vmlinux.tmp" "$vmlinux"
fi

# --- the headers: a kbuild tree -----------------------------------------------------------------
kdir=$root/usr/src/linux-headers-$rel
if [ ! -f "$kc/headers.done" ]; then
	use_suite "$suite"
	unpack "linux-headers-$rel"
	# The -common tree and the host tools, at the versions this headers package was built with.
	for d in $(apt_show "linux-headers-$rel" | field Depends | deps 'linux-headers-[^ ]*-common[^ ]*\|linux-kbuild-[^ ]*'); do unpack "$d"; done
	# The package includes its -common tree (and 7.x sets KBUILD_OUTPUT) by absolute path under
	# /usr/src: point those at the unpacked tree.
	sed -i "s|/usr/src/|$root/usr/src/|g" "$kdir/Makefile"
	touch "$kc/headers.done"
fi

# --- the toolchain: a private root when the host's release cannot run this kernel's kbuild --------
# The kernel is built with one gcc (CONFIG_CC_VERSION_TEXT); Debian's headers call it by name, and
# linux-kbuild's host tools are linked against that release's glibc. When the host lacks that gcc
# (7.x: trixie's gcc-14 on bookworm), builds run in a minbase root of the kernel's release.
cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$kdir/.config")
rootdir=
if [ -n "$cc" ] && ! command -v "$cc" >/dev/null; then
	rootdir=$(bash "$here/scripts/debian-root.sh" "${suite%-backports}" "${cc#x86_64-linux-gnu-}")
	if ! grep -q KLP_CONVERT_IN_ROOT "$kdir/Makefile"; then
		inc=$(cat "$kdir/Makefile")
		cat > "$kdir/Makefile" <<EOF
# klp-convert (scripts/debian-kernel.sh): this kernel's kbuild needs $cc and ${suite%-backports}'s
# glibc. Every make run in this tree re-runs itself in the private root $rootdir,
# where the host's work folders are mounted at the same paths (scripts/debian-root.sh).
ifeq (\$(KLP_CONVERT_IN_ROOT),)
__klp_convert_root:
	+@KLP_CONVERT_IN_ROOT=1 $rootdir/enter \$(MAKE) -C \$(CURDIR) \$(MAKECMDGOALS)
\$(filter-out __klp_convert_root,\$(MAKECMDGOALS)): __klp_convert_root ; @:
.PHONY: __klp_convert_root
else
$inc
endif
EOF
	fi
fi

symvers=$kdir/Module.symvers
if [ "$dbg" = 1 ] && [ ! -s "$kc/vmlinux-dbg" ]; then
	use_suite "$suite"
	tmp=$(mktemp -d "$kc/dl.XXXXXX")
	log "downloading linux-image-$rel-dbg (about 1 GB; only the vmlinux is kept)"
	(cd "$tmp" && apt-get "${apt_opts[@]}" download "linux-image-$rel-dbg" >&2)
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards "./usr/lib/debug/boot/vmlinux-$rel" "./usr/lib/debug/lib/modules/$rel/vmlinux" 2>/dev/null || true
	found=$(find "$tmp/usr/lib/debug" -name "vmlinux*" -type f | head -1)
	[ -n "$found" ] || { echo "debian-kernel: no vmlinux in linux-image-$rel-dbg" >&2; rm -rf "$tmp"; exit 1; }
	mv "$found" "$kc/vmlinux-dbg"
	rm -rf "$tmp"
fi

# The kernel's own symbol order, for sympos: boot it once and keep its /proc/kallsyms (Debian's
# System.map is a placeholder; the real one is in the -dbg package).
kallsyms_file=$kc/kallsyms.txt
if [ "$kallsyms" = 1 ] && [ ! -s "$kallsyms_file" ]; then
	log "booting $rel under qemu to dump /proc/kallsyms"
	bash "$here/scripts/vm/kallsyms-dump.sh" "$vmlinux" "$kallsyms_file" >&2
fi

echo "KVER=$rel"
echo "SUITE=$suite"
echo "KDIR=$kdir"
echo "MODULES=$moddir"
echo "SYMVERS=$symvers"
echo "VMLINUX=$vmlinux"
echo "KALLSYMS=$kallsyms_file"
echo "DBG_VMLINUX=$([ -s "$kc/vmlinux-dbg" ] && echo "$kc/vmlinux-dbg")"
echo "ROOT=$rootdir"
