#!/bin/bash
# dracut module "bondstrap": bond the NICs from the initramfs, before the root file
# system is mounted, with `bondstrap apply`.
#
# Install as /usr/lib/dracut/modules.d/90bondstrap/ and enable with
#   add_dracutmodules+=" bondstrap "      (e.g. in /etc/dracut.conf.d/bondstrap.conf)
# The image gets /usr/bin/bondstrap, /etc/bondstrap/bondstrap.yaml when present, the
# bonding, 8021q and bridge modules and the wired NIC drivers (in hostonly mode, dracut's
# default on some distributions, only those loaded on the host that builds it; build
# with --no-hostonly for another machine).
#
# Kernel command line:
#   rd.bondstrap=0           do not run bondstrap in the initramfs
#   bondstrap.config=FILE    the config (default /etc/bondstrap/bondstrap.yaml)
#   bondstrap.log=LEVEL      bondstrap's log level
#
# The units that apply writes go to /run/systemd/network, which survives the switch
# to the real root: its systemd-networkd takes the bonds over, and
# bondstrap-firstboot.service persists them under /etc.

# shellcheck disable=SC2154 # moddir, systemdnetwork* come from dracut

# Only when asked for: bonding every NIC is not a default to impose.
check() {
	require_binaries bondstrap || return 1
	return 255
}

depends() {
	return 0
}

installkernel() {
	instmods bonding 8021q bridge
	# The wired NIC drivers, as dracut's kernel-network-modules adds them, without
	# depending on that module: not every distribution ships it with dracut (Debian
	# has it in dracut-network), and a missing dependency fails the whole image.
	instmods "=drivers/net/ethernet" "=drivers/net/phy" virtio_net
}

install() {
	inst_binary "$(command -v bondstrap)" /usr/bin/bondstrap
	if [ -f /etc/bondstrap/bondstrap.yaml ]; then
		inst_simple /etc/bondstrap/bondstrap.yaml
	fi
	inst_multiple -o modprobe mkdir
	# The root's interface naming (systemd .link files; udev applies them here too):
	# a NIC must have its final name before it is bonded. An enslaved NIC is up and
	# the kernel refuses to rename it; dracut clears the initramfs's udev database at
	# the switch to the root, the root's udev handles the NIC anew, and without this
	# systemd-networkd left the members pending.
	inst_multiple -o "${systemdnetwork:-/usr/lib/systemd/network}"/*.link \
		"${systemdnetworkconfdir:-/etc/systemd/network}"/*.link
	# After udev has settled (NIC drivers loaded), once; the finished hook keeps the
	# initqueue going until it has run, so the root is not mounted before.
	inst_hook initqueue/settled 90 "$moddir/bondstrap.sh"
	inst_hook initqueue/finished 90 "$moddir/bondstrap-done.sh"
	# With systemd in the initramfs the initqueue (dracut-initqueue.service) runs
	# only when the image asks for it; nothing else may (root=/dev/... does not).
	dracut_need_initqueue
}
