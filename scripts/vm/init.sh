#!/bin/busybox sh
# /init of klp-convert's test initramfs (PID 1). Mounts what livepatch tests need, makes
# /proc/kallsyms show addresses, optionally dumps it to the second serial port, runs /test.sh if
# the initramfs has one, then powers off. Lines meant for the host start with "E2E: ".
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 0 > /proc/sys/kernel/kptr_restrict
echo 3 > /proc/sys/kernel/printk
echo "E2E: BEGIN kernel=$(uname -r)"
if grep -q 'klp.kallsyms=1' /proc/cmdline; then
	gzip -c /proc/kallsyms | base64 > /dev/ttyS1 && echo "E2E: KALLSYMS-DUMPED"
fi
[ -x /test.sh ] && /test.sh
echo "E2E: END"
poweroff -f
