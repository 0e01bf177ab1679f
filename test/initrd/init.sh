#!/bin/sh
# /init of the bondstrap test initramfs (built by test/initrd).
#
# Mounts the pseudo file systems, loads the kernel modules listed in
# /etc/bondstrap-test/modules.load (dependencies first), brings lo up and hands over
# to busybox init, which keeps the command agent (/sbin/bondstrap-agent) running on
# the second serial port.
#
# Kernel command line switches:
#   bstvm.bonding=max0     load bonding with max_bonds=0 (default): no bond0
#   bstvm.bonding=default  load bonding with its defaults: the module creates
#                                   bond0 itself (balance-rr), as on many distributions
#   bstvm.bonding=none     do not load bonding at all
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

mount -t devtmpfs -o mode=0755 devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /proc /sys /run /tmp /dev/pts /var
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t devpts devpts /dev/pts
ln -sfn /run /var/run

say() { echo "bondstrap-test-init: $*"; }
say "kernel $(uname -r), up $(cut -d' ' -f1 /proc/uptime)s"

bonding=max0
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	bstvm.bonding=*) bonding=${arg#*=} ;;
	esac
done

release=$(uname -r)
while read -r rel; do
	[ -n "$rel" ] || continue
	name=${rel##*/}
	name=${name%.ko}
	args=
	if [ "$name" = bonding ]; then
		case "$bonding" in
		none) say "bonding: not loaded (bstvm.bonding=none)"; continue ;;
		default) ;;
		*) args=max_bonds=0 ;;
		esac
	fi
	# shellcheck disable=SC2086
	insmod "/lib/modules/$release/$rel" $args || say "insmod $name failed"
done </etc/bondstrap-test/modules.load

ip link set lo up
hostname bondstrap-guest
# Kernel info messages (bonding enslave, failover, link changes) go to the console
# log from here on; during boot they would only slow the emulated serial port.
dmesg -n 7
say "modules loaded (bonding: $bonding), interfaces: $(ls /sys/class/net | tr '\n' ' ')"
say "up $(cut -d' ' -f1 /proc/uptime)s, starting init"
exec /sbin/init
