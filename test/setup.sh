#!/usr/bin/env bash
# test/setup.sh: install what the VM tests need on a fresh Debian 12 machine, as root.
#
#   - Debian packages: qemu-system-x86, dnsmasq-base, busybox-static, cpio, kmod,
#     iproute2, iputils-ping, xz-utils, ethtool (the detect benchmark's shell loop)
#   - Debian's kernel (the package linux-image-amd64 points at): vmlinuz plus the
#     modules the test VMs load (bonding, virtio-net, e1000 and their dependencies),
#     unpacked into a cache outside the repository, keyed by kernel release:
#
#       ${BONDSTRAP_CACHE:-/var/cache/bondstrap}/
#         kernel/<release>/vmlinuz
#         kernel/<release>/lib/modules/<release>/...   (the .ko files, modules.dep)
#         kernel/<release>/modules.load                (load order, dependencies first)
#         kernel/<release>/release                     (the release string)
#         current -> kernel/<release>
#
#   - the Debian root of the reboot tests (test/setup-rootfs.sh, which see)
#
# Idempotent: a second run checks and returns in about a second. Environment:
#   BONDSTRAP_CACHE    cache directory (default /var/cache/bondstrap)
#   BONDSTRAP_KERNEL   kernel package to use (default: what linux-image-amd64 depends on)
#   BONDSTRAP_MODULES  modules to extract (default below; dependencies are added)
#   BONDSTRAP_ROOTFS   0: do not build the Debian root
set -euo pipefail

CACHE=${BONDSTRAP_CACHE:-/var/cache/bondstrap}
MODULES=${BONDSTRAP_MODULES:-"bonding virtio_net virtio_pci e1000 8021q bridge veth"}
PACKAGES="qemu-system-x86 dnsmasq-base busybox-static cpio kmod iproute2 iputils-ping xz-utils ethtool"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, writes $CACHE)"
command -v apt-get >/dev/null || die "needs apt-get (Debian 12)"
export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_update() {
	if [ "$apt_updated" -eq 0 ]; then
		log "apt-get update"
		apt-get update -qq >&2
		apt_updated=1
	fi
}

# 1. Packages. dpkg-query is fast; apt-get runs only when something is missing.
missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	apt_update
	log "apt-get install$missing"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >&2
else
	log "packages present: $PACKAGES"
fi

# 2. Which kernel. Resolve the name behind linux-image-amd64 from the package lists;
# with no lists (fresh machine) update them first.
resolve_kernel() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
kpkg=${BONDSTRAP_KERNEL:-}
if [ -z "$kpkg" ]; then
	kpkg=$(resolve_kernel || true)
	if [ -z "$kpkg" ]; then
		apt_update
		kpkg=$(resolve_kernel || true)
	fi
fi
if [ -z "$kpkg" ]; then
	if [ -e "$CACHE/current/vmlinuz" ]; then
		log "cannot resolve linux-image-amd64; keeping cached kernel $(cat "$CACHE/current/release")"
		exit 0
	fi
	die "cannot resolve the kernel package behind linux-image-amd64"
fi
release=${kpkg#linux-image-}
kdir="$CACHE/kernel/$release"
stamp="$kdir/.complete"

if [ -e "$stamp" ] && [ "$(cat "$stamp")" = "$MODULES" ]; then
	log "kernel $release cached in $kdir"
else
	log "fetching $kpkg into $kdir"
	mkdir -p "$CACHE/kernel"
	work=$(mktemp -d "$CACHE/.work.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	# apt-get download writes into the current directory; _apt must be able to write it.
	chmod 0755 "$work"
	chown _apt "$work" 2>/dev/null || true
	if ! (cd "$work" && apt-get download -qq "$kpkg" >&2); then
		apt_update
		(cd "$work" && apt-get download -qq "$kpkg" >&2) || die "apt-get download $kpkg failed"
	fi
	deb=$(ls "$work"/*.deb)
	log "unpacking $(basename "$deb")"
	mkdir "$work/x"
	dpkg-deb -x "$deb" "$work/x"
	src="$work/x/lib/modules/$release"
	[ -d "$src" ] || die "no lib/modules/$release in $deb"
	[ -e "$work/x/boot/vmlinuz-$release" ] || die "no boot/vmlinuz-$release in $deb"

	# Module files by name, for dependency resolution through modinfo (the .deb
	# ships no modules.dep: depmod runs in postinst).
	declare -A path_of=()
	while IFS= read -r f; do
		n=$(basename "$f")
		n=${n%%.ko*}
		path_of[$n]=${f#"$src"/}
		path_of[${n//-/_}]=${f#"$src"/}
	done < <(find "$src" -name '*.ko*')

	declare -A seen=()
	order=()
	visit() {
		local m=${1//-/_} dep
		[ -n "${seen[$m]:-}" ] && return 0
		seen[$m]=1
		if [ -z "${path_of[$m]:-}" ]; then
			if grep -q "/${m}.ko\$" "$src/modules.builtin" 2>/dev/null ||
				grep -q "/${m//_/-}.ko\$" "$src/modules.builtin" 2>/dev/null; then
				log "  $m: built into the kernel"
				return 0
			fi
			die "module $m not found in $kpkg"
		fi
		for dep in $(modinfo -F depends "$src/${path_of[$m]}" | tr ',' ' '); do
			visit "$dep"
		done
		order+=("${path_of[$m]}")
	}
	for m in $MODULES; do visit "$m"; done

	out="$work/out"
	mkdir -p "$out/lib/modules/$release"
	cp "$work/x/boot/vmlinuz-$release" "$out/vmlinuz"
	cp "$src/modules.builtin" "$src/modules.order" "$out/lib/modules/$release/"
	[ -e "$src/modules.builtin.modinfo" ] && cp "$src/modules.builtin.modinfo" "$out/lib/modules/$release/"
	: >"$out/modules.load"
	for rel in "${order[@]}"; do
		dst="$out/lib/modules/$release/$rel"
		mkdir -p "$(dirname "$dst")"
		case "$rel" in
		*.ko.xz) xz -dc "$src/$rel" >"${dst%.xz}"; rel=${rel%.xz} ;;
		*.ko.zst) die "zstd-compressed modules are not supported: $rel" ;;
		*) cp "$src/$rel" "$dst" ;;
		esac
		echo "$rel" >>"$out/modules.load"
		log "  module $rel"
	done
	# modules.dep and friends, so that modprobe works in the guest too.
	depmod -b "$out" "$release"
	echo "$release" >"$out/release"
	echo "$MODULES" >"$out/.complete"

	rm -rf "$kdir"
	mv "$out" "$kdir"
	rm -rf "$work"
	trap - EXIT
fi

ln -sfn "kernel/$release" "$CACHE/current.tmp"
mv -T "$CACHE/current.tmp" "$CACHE/current"
log "ready: kernel $release, $(wc -l <"$kdir/modules.load") modules, cache $CACHE"

# 3. The Debian root that the reboot tests boot (test/setup-rootfs.sh; a few minutes
# the first time, cached after). BONDSTRAP_ROOTFS=0 skips it.
if [ "${BONDSTRAP_ROOTFS:-1}" != 0 ]; then
	"$(dirname "$0")/setup-rootfs.sh"
fi
