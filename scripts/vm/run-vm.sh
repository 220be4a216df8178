#!/usr/bin/env bash
# usage: run-vm.sh KERNEL INITRD SERIAL_LOG [SECOND_SERIAL_FILE] [-- extra kernel cmdline]
# Boots a kernel with only an initramfs under software emulation (KVM on these machines is kvm-pvm
# and cannot run a stock kernel) and writes the guest's console to SERIAL_LOG.
# Exit status is qemu's; 124 when VM_TIMEOUT (default 300 s) ran out.
set -uo pipefail
kernel=$1 initrd=$2 log=$3
shift 3
serial2=()
if [ $# -gt 0 ] && [ "$1" != -- ]; then serial2=(-serial "file:$1"); shift; fi
[ "${1:-}" = -- ] && shift
timeout --foreground -k 5 "${VM_TIMEOUT:-300}" \
qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 1 -m 1G \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 quiet panic=-1 oops=panic $*" \
	-display none -no-reboot -nodefaults -serial "file:$log" "${serial2[@]}" </dev/null
