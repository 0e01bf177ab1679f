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
		_bs_conf=$(getarg bondstrap.config=)
		[ -n "$_bs_conf" ] || _bs_conf=/etc/bondstrap/bondstrap.yaml
		if [ ! -f "$_bs_conf" ]; then
			info "bondstrap: no config $_bs_conf, nothing to do"
		else
			# max_bonds=0: loading the module must not create a bond0 of its own.
			modprobe bonding max_bonds=0 2>/dev/null
			info "bondstrap: apply -c $_bs_conf"
			if /usr/bin/bondstrap apply -c "$_bs_conf" --root /run/bondstrap/root \
				--report /run/bondstrap/report.json; then
				if [ -d /run/bondstrap/root/etc/systemd/network ]; then
					mkdir -p /run/systemd/network
					cp -a /run/bondstrap/root/etc/systemd/network/. /run/systemd/network/
				fi
			else
				# bondstrap has undone its work (or fallen back as configured);
				# the boot goes on either way, the console says why.
				warn "bondstrap: apply failed (exit $?), see the messages above"
			fi
		fi
	fi
	: >/run/bondstrap/initramfs.done
fi
