#!/usr/bin/env bash
# test/setup-rootfs.sh: build the Debian root that the reboot tests boot, as root, after
# test/setup.sh has cached the kernel. A systemd system with systemd-networkd enabled,
# the guest kernel and its modules, Debian's own initrd for it (update-initramfs), and
# the test command agent on the second serial port:
#
#   ${BONDSTRAP_CACHE:-/var/cache/bondstrap}/
#     rootfs/<key>/root.img     raw ext4 image of the root (sparse), never booted:
#                               tests boot a copy
#     rootfs/<key>/vmlinuz      the kernel of the root
#     rootfs/<key>/initrd.img   the initrd update-initramfs built in the root
#     rootfs/<key>/release      the kernel release
#     rootfs/<key>/tree/        the root as a directory, for tests that change it in a
#                               chroot (update-initramfs) and make an image of their own
#     rootfs/<key>/debs/dracut/ dracut's packages (not installed: it replaces
#                               initramfs-tools), for the dracut module's test
#     rootfs/current -> <key>
#
# <key> hashes this script, the package list, the agent and the kernel release, so a
# change to any of them builds a new root. Idempotent: with a current root cached it
# returns at once. Needs debootstrap and mkfs.ext4 (e2fsprogs); no loop mounts.
# Packages come from the Debian mirror of the host's apt configuration, the kernel
# package through apt-get download (it may live in the security suite only).
#
# Environment:
#   BONDSTRAP_CACHE    cache directory (default /var/cache/bondstrap)
#   BONDSTRAP_MIRROR   Debian mirror for debootstrap (default: from apt's sources)
set -euo pipefail

CACHE=${BONDSTRAP_CACHE:-/var/cache/bondstrap}
SUITE=bookworm
# What the guest needs: systemd with networkd and udev, ip and modprobe for the tests,
# dbus for networkctl, initramfs-tools (and busybox for its shell) for the initrd.
PACKAGES="systemd systemd-sysv udev dbus iproute2 kmod initramfs-tools busybox zstd linux-base e2fsprogs"
# dracut and what it needs beyond the root (dpkg -i in the dracut test).
DRACUT_PACKAGES="dracut dracut-core kpartx"
IMAGE_SIZE=3G
here=$(cd "$(dirname "$0")" && pwd)
AGENT="$here/../test/initrd/agent.sh"

log() { printf 'setup-rootfs: %s\n' "$*" >&2; }
die() { printf 'setup-rootfs: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
[ -r "$CACHE/current/release" ] || die "no cached kernel in $CACHE/current: run test/setup.sh first"
release=$(cat "$CACHE/current/release")
kpkg=linux-image-$release

key=$( { cat "$0" "$AGENT"; echo "$PACKAGES $DRACUT_PACKAGES $release $SUITE"; } | sha256sum | cut -c1-16)
out="$CACHE/rootfs/$key"
if [ -e "$out/.complete" ]; then
	ln -sfn "$key" "$CACHE/rootfs/current.tmp"
	mv -T "$CACHE/rootfs/current.tmp" "$CACHE/rootfs/current"
	log "root $key cached in $out"
	exit 0
fi

missing=""
command -v debootstrap >/dev/null || missing="$missing debootstrap"
command -v mkfs.ext4 >/dev/null || missing="$missing e2fsprogs"
command -v qemu-img >/dev/null || missing="$missing qemu-utils"
if [ -n "$missing" ]; then
	log "apt-get install$missing"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 || {
		apt-get update -qq >&2
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
	}
fi

# The mirror apt already uses for $SUITE: deb822 stanzas (URIs:/Suites:) or one-line
# "deb [opts] URI suite components" entries.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v suite="$SUITE" '
			/^[ \t]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
			$1 == "URIs:" { uri = $2 }
			$1 == "Suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
			END { if (uri != "" && ok) print uri }' "$f"
	done
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk -v suite="$SUITE" '$1 == "deb" { sub(/\[[^]]*\]/, ""); if ($3 == suite) print $2 }' || true
}
mirror=${BONDSTRAP_MIRROR:-$(apt_mirror | awk 'NR == 1')}
[ -n "$mirror" ] || die "no apt source for $SUITE; set BONDSTRAP_MIRROR"

mkdir -p "$CACHE/rootfs"
work=$(mktemp -d "$CACHE/rootfs/.work.XXXXXX")
root="$work/root"
cleanup() {
	# debootstrap and dpkg may leave the chroot's pseudo file systems mounted.
	for m in proc sys dev/pts dev; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
	done
	rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)

log "debootstrap $SUITE (minbase + $PACKAGES)"
debootstrap --variant=minbase --include="${PACKAGES// /,}" "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
log "debootstrap done in $(($(date +%s) - start))s"

log "installing $kpkg"
chmod 0755 "$work"
chown _apt "$work" 2>/dev/null || true
(cd "$work" && apt-get download -qq "$kpkg" >&2) || {
	apt-get update -qq >&2
	(cd "$work" && apt-get download -qq "$kpkg" >&2)
} || die "apt-get download $kpkg failed"
cp "$work"/"$kpkg"_*.deb "$root/tmp/kernel.deb"
mkdir -p "$work/out/debs/dracut"
chown _apt "$work/out/debs/dracut" 2>/dev/null || true
(cd "$work/out/debs/dracut" && apt-get download -qq $DRACUT_PACKAGES >&2) || die "apt-get download $DRACUT_PACKAGES failed"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
# dpkg -i runs update-initramfs through /etc/kernel/postinst.d; MODULES=most puts
# virtio_blk and ext4 into the initrd.
chroot "$root" dpkg -i /tmp/kernel.deb >"$work/kernel.log" 2>&1 ||
	{ tail -n 30 "$work/kernel.log" >&2; die "dpkg -i $kpkg failed (log above)"; }
rm -f "$root/tmp/kernel.deb"
[ -e "$root/boot/initrd.img-$release" ] || die "no initrd built for $release"
umount "$root/dev" "$root/sys" "$root/proc"

log "configuring the root"
echo bondstrap-guest >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tbondstrap-guest\n' >"$root/etc/hosts"
printf '/dev/vda\t/\text4\tdefaults\t0\t1\n' >"$root/etc/fstab"
chroot "$root" passwd -d root >/dev/null
# Built once, booted many times: every boot of a copy is a first boot of a new machine.
: >"$root/etc/machine-id"
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
# No time spent in services the tests do not use.
chroot "$root" systemctl mask systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
	e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
install -m 0755 "$AGENT" "$root/usr/local/sbin/bondstrap-agent"
cat >"$root/etc/systemd/system/bondstrap-test-agent.service" <<'EOF'
# The bondstrap test command agent (test/initrd/agent.sh) on ttyS1: the
# harness (test/vm) runs commands in the guest through it.
[Unit]
Description=bondstrap test agent on ttyS1
DefaultDependencies=no
After=systemd-remount-fs.service dev-ttyS1.device
Wants=dev-ttyS1.device

[Service]
ExecStart=/usr/local/sbin/bondstrap-agent
Restart=always
RestartSec=1

[Install]
WantedBy=sysinit.target
EOF
chroot "$root" systemctl enable bondstrap-test-agent.service >/dev/null 2>&1
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin

log "making the ext4 image"
mkdir -p "$work/out"
cp "$root/boot/vmlinuz-$release" "$work/out/vmlinuz"
cp "$root/boot/initrd.img-$release" "$work/out/initrd.img"
echo "$release" >"$work/out/release"
mkfs.ext4 -q -L bondstrap-root -d "$root" "$work/out/root.img" "$IMAGE_SIZE" >&2
mv "$root" "$work/out/tree"
date -u +%FT%TZ >"$work/out/.complete"
rm -rf "$out"
mv "$work/out" "$out"
ln -sfn "$key" "$CACHE/rootfs/current.tmp"
mv -T "$CACHE/rootfs/current.tmp" "$CACHE/rootfs/current"
# Roots of earlier versions of this script: nothing uses them any more.
for d in "$CACHE"/rootfs/*/; do
	d=${d%/}
	[ "${d##*/}" = "$key" ] || [ -L "$d" ] || rm -rf "$d"
done
log "root $key ready in $out after $(($(date +%s) - start))s ($(du -sh --apparent-size "$out/root.img" | cut -f1) image, $(du -sh "$out/root.img" | cut -f1) used)"
