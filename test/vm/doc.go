// Package vm boots throwaway QEMU virtual machines for bondstrap's end-to-end tests.
//
// The host kernel of the test machines has no bonding driver, so bonds are real only
// inside a VM. A VM here is Debian's kernel (cached by test/setup.sh) booted under
// qemu-system-x86_64 -accel tcg with the test initramfs (test/initrd), with
// emulated NICs whose PCI IDs and speeds differ: virtio-net-pci (1af4:1000, speed as
// configured) and e1000 (8086:100e, 1000 Mb/s).
//
// Each VM gets a network namespace of its own (Network) in which every guest NIC is a
// tap device on a bridge (one bridge per L2 segment), the host has an address on each
// bridge, and dnsmasq serves DHCP. QEMU runs inside that namespace, so no guest packet
// can leave it. Links are cut and restored with QMP set_link, and commands run in the
// guest through an agent on the second serial port (VM.Run).
//
// In a test:
//
//	v := vm.New(t, vm.Config{NICs: []vm.NIC{vm.Virtio(10000), vm.Virtio(10000), vm.E1000()}})
//	out := v.MustRun(t, "cat /sys/class/net/"+v.Iface(0)+"/speed")
//	lease, err := v.Net.WaitLease(ctx, 0, v.NICs[0].MAC)
//	err = v.SetLink(ctx, 0, false)
//
// New skips under -short, and otherwise fails the test (never skips) when the
// machine is not prepared and test/setup.sh cannot prepare it, or when the VM does not
// boot within its deadline.
//
// The guest: busybox (sh, ip, udhcpc, ping, ...), /usr/bin/bondstrap when
// Config.Bondstrap is set, the modules loaded at boot (bonding as Config.Bonding says,
// virtio-net, e1000, 8021q), NICs named eth0... by the kernel in PCI order of each
// driver (virtio first; VM.Iface maps a NIC to its name), every NIC down. udhcpc's
// default script applies a lease and records it in /run/udhcpc/<iface>.lease.
// Commands run as root through busybox sh, one at a time.
//
// A VM can also boot an installed system instead of the test initramfs: Config.Root
// names a disk image with its kernel and initrd. NewRootDisk copies the Debian root
// that test/setup-rootfs.sh builds and caches (debootstrap: systemd, systemd-networkd,
// udev, Debian's kernel and its own initrd, this agent as a systemd service on ttyS1)
// and writes the test's files into the copy; VM.Reboot reboots the guest and boots
// the same disk again in the same namespace, with the DHCP leases kept:
//
//	disk, err := vm.NewRootDisk(ctx, vm.RequireRoot(t), t.TempDir(), files, links)
//	v := vm.New(t, vm.Config{NICs: nics, MemoryMB: 1024, Root: disk})
//	err = v.Reboot(ctx)
//
// Environment:
//
//	BONDSTRAP_CACHE            setup cache (default /var/cache/bondstrap)
//	BONDSTRAP_VM_BOOT_TIMEOUT  default boot deadline (default 180s)
//	BONDSTRAP_BIN              a prebuilt static bondstrap for BuildBondstrap
//
// The network is TEST-NET only (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and
// lives in the VM's namespace; QEMU gets tap devices only, never user networking.
package vm
