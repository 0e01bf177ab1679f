#!/bin/sh
# dracut initqueue/settled hook of the bondstrap module: run `bondstrap apply` once
# udev has settled. Sourced by dracut on every initqueue round: the marker file makes
# it run once, and the module's finished hook keeps the queue waiting until then.
# shellcheck source=/dev/null # dracut-lib.sh is in the initramfs only
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh

if [ ! -e /run/bondstrap/initramfs.done ]; then
	mkdir -p /run/bondstrap
	if ! getargbool 1 rd.bondstrap; then
		info "bondstrap: disabled by rd.bondstrap=0"
	else
		# The config: bondstrap.config= (a path, or an http:// URL bondstrap
		# fetches itself), else the image's /etc/bondstrap/bondstrap.yaml,
		# else dracut's bond=, vlan=, bridge=, ip= (bondstrap reads them:
		# docs/boot.md). Without -c, bondstrap reads the command line.
		_bs_args=
		if [ -n "$(getarg bondstrap.config=)" ]; then
			:
		elif [ -f /etc/bondstrap/bondstrap.yaml ]; then
			_bs_args="-c /etc/bondstrap/bondstrap.yaml"
		elif [ -z "$(getarg bond=)$(getarg vlan=)$(getarg bridge=)$(getarg ip=)" ] && ! getarg bond >/dev/null; then
			_bs_args=none
		fi
		if [ "$_bs_args" = none ]; then
			info "bondstrap: no config (bondstrap.config=, /etc/bondstrap/bondstrap.yaml or bond=/ip=), nothing to do"
		else
			# max_bonds=0: loading the module must not create a bond0 of its own.
			modprobe bonding max_bonds=0 2>/dev/null
			info "bondstrap: apply $_bs_args"
			# --runtime: the units go to /run/systemd/network and systemd-networkd
			# is enabled for this boot in /run/systemd/system; /run survives the
			# switch to the real root, whose networkd takes the bonds over and
			# keeps the lease.
			# shellcheck disable=SC2086 # _bs_args is empty or "-c FILE"
			/usr/bin/bondstrap apply $_bs_args --runtime --report /run/bondstrap/report.json
			case $? in
			0) ;;
			3) warn "bondstrap: degraded (exit 3): a network for this boot, not the declared one; see the messages above" ;;
			*) warn "bondstrap: apply failed (exit $?): everything undone; see the messages above" ;;
			esac
		fi
	fi
	: >/run/bondstrap/initramfs.done
fi
