#!/usr/bin/env bash
# usage: kallsyms-dump.sh VMLINUX OUT
# Boot the kernel once and save its /proc/kallsyms (vmlinux symbols in the kernel's own order).
set -euo pipefail
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/mkinitramfs.sh" "$work/initrd.gz"
"$here/run-vm.sh" "$1" "$work/initrd.gz" "$work/serial.log" "$work/kallsyms.b64" -- klp.kallsyms=1 || true
if ! grep -q 'E2E: KALLSYMS-DUMPED' "$work/serial.log"; then
	echo "kallsyms dump failed; console:" >&2; tr -d '\r' < "$work/serial.log" | tail -20 >&2; exit 1
fi
tr -d '\r' < "$work/kallsyms.b64" | base64 -d | gunzip > "$work/kallsyms.txt"
mv "$work/kallsyms.txt" "$2"
