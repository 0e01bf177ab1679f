#!/bin/bash
# dracut module "bondstrap": bond the NICs from the initramfs, before the root file
# system is mounted, with `bondstrap apply`.
#
# Install as /usr/lib/dracut/modules.d/90bondstrap/ and enable with
#   add_dracutmodules+=" bondstrap "      (e.g. in /etc/dracut.conf.d/bondstrap.conf)
# The image gets /usr/bin/bondstrap, /etc/bondstrap/bondstrap.yaml when present, the
# bonding and 8021q modules and the wired NIC drivers.
#
# Kernel command line:
#   rd.bondstrap=0           do not run bondstrap in the initramfs
#   bondstrap.config=FILE    the config (default /etc/bondstrap/bondstrap.yaml)
#   bondstrap.log=LEVEL      bondstrap's log level
#
# The units that apply writes go to /run/systemd/network, which survives the switch
# to the real root: its systemd-networkd takes the bonds over, and
# bondstrap-firstboot.service persists them under /etc.

# shellcheck disable=SC2154 # moddir, initdir, hookdir come from dracut

# Only when asked for: bonding every NIC is not a default to impose.
check() {
	require_binaries bondstrap || return 1
	return 255
}

depends() {
	return 0
}

installkernel() {
	instmods bonding 8021q
	# The wired NIC drivers, as dracut's kernel-network-modules adds them, without
	# depending on that module: not every distribution ships it with dracut (Debian
	# has it in dracut-network), and a missing dependency fails the whole image.
	instmods =drivers/net/ethernet =drivers/net/phy virtio_net
}

install() {
	inst_binary "$(command -v bondstrap)" /usr/bin/bondstrap
	if [ -f /etc/bondstrap/bondstrap.yaml ]; then
		inst_simple /etc/bondstrap/bondstrap.yaml
	fi
	inst_multiple -o modprobe mkdir cp
	# After udev has settled (NIC drivers loaded), once; the initqueue waits for it.
	inst_hook initqueue/settled 90 "$moddir/bondstrap.sh"
	mkdir -p "${initdir:?}/$hookdir/initqueue/finished"
	echo '[ -e /run/bondstrap/initramfs.done ]' >"$initdir/$hookdir/initqueue/finished/90-bondstrap.sh"
}
