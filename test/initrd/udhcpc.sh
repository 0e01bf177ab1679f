#!/bin/sh
# busybox udhcpc script of the bondstrap test initramfs: applies the lease with ip and
# records it in /run/udhcpc/<interface>.lease (shell variables) for the tests to read.
# shellcheck disable=SC2154 # interface, ip, router, ... come from udhcpc
mkdir -p /run/udhcpc
leasefile=/run/udhcpc/$interface.lease
case "$1" in
deconfig)
	ip addr flush dev "$interface"
	ip link set "$interface" up
	rm -f "$leasefile"
	;;
bound | renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
	for r in $router; do
		ip route replace default via "$r" dev "$interface"
		break
	done
	: >/etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
	{
		echo "ip=$ip"
		echo "mask=$mask"
		echo "router='$router'"
		echo "dns='$dns'"
		echo "serverid=$serverid"
		echo "lease=$lease"
		echo "mtu=$mtu"
		echo "staticroutes='$staticroutes'"
	} >"$leasefile"
	;;
esac
exit 0
