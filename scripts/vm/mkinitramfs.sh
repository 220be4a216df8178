#!/usr/bin/env bash
# usage: mkinitramfs.sh OUT.cpio.gz [DIR]
# An initramfs with static busybox, init.sh as /init, and DIR's contents (test.sh, modules) at /.
set -euo pipefail
out=$(realpath -m "$1")
here=$(dirname "$(realpath "$0")")
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp /bin/busybox "$root/bin/busybox"
cp "$here/init.sh" "$root/init"
chmod +x "$root/init"
[ -n "${2:-}" ] && cp -r "$2"/. "$root/"
(cd "$root" && find . -print0 | cpio --null -o -H newc --owner 0:0 --quiet) | gzip -1 > "$out"
