#!/usr/bin/env bash
# The main job on a default target, from a fresh Debian machine: install what is needed, make the
# symbol map of a Debian kernel (the installed headers' release, or KVER), build + convert the
# annotated sample livepatch for it, verify it, and load it in that kernel under qemu.
#
#   [KVER=REL] scripts/demo.sh [SAMPLE]     SAMPLE: a folder of samples/ (default: annotated)
set -euo pipefail
cd "$(dirname "$0")/.."
sample=${1:-annotated}
eval "$(bash scripts/setup-debian.sh)"
npm ci --no-audit --no-fund --loglevel=error
out=${TMPDIR:-/tmp}/klp-convert-demo/$KVER
mkdir -p "$out"
klp() { node bin/klp-convert.js "$@"; }

echo "== symbol map of $KVER (kallsyms dumped from it under qemu, its modules, Module.symvers)"
klp symbols --kallsyms "$KALLSYMS" --modules "$MODULES" --symvers "$SYMVERS" \
	--release "$KVER" -o "$out/symbols.map"
echo "== build and convert samples/$sample"
rm -rf "$out/src" && cp -r "samples/$sample" "$out/src"
klp build "$out/src" --kdir "$KDIR" -s "$out/symbols.map" -o "$out/modules" --verbose
for ko in "$out"/modules/*.ko; do
	echo "== verify $ko"
	klp verify "$ko" -s "$out/symbols.map" --symvers "$SYMVERS"
	klp inspect "$ko"
done
echo "== load it in $KVER under qemu"
root=$out/vm && rm -rf "$root" && mkdir -p "$root/m" && cp "$out"/modules/*.ko "$root/m/"
cat > "$root/test.sh" <<'GUEST'
#!/bin/sh
echo "E2E: cmdline before: $(cat /proc/cmdline)"
for m in /m/*.ko; do insmod "$m" && echo "E2E: loaded $m"; done
sleep 1
echo "E2E: cmdline after: $(cat /proc/cmdline)"
dmesg | grep -E 'livepatch|klp' | sed 's/^/E2E: dmesg: /'
GUEST
chmod +x "$root/test.sh"
scripts/vm/mkinitramfs.sh "$out/initrd.gz" "$root"
scripts/vm/run-vm.sh "$VMLINUX" "$out/initrd.gz" "$out/serial.log" || true
tr -d '\r' < "$out/serial.log" | grep '^E2E: ' | grep -v -e '^E2E: BEGIN' -e '^E2E: END'
tr -d '\r' < "$out/serial.log" | grep -q '^E2E: loaded' || { echo "demo: the kernel did not load the module" >&2; exit 1; }
